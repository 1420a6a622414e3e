"""The coordinator's bookkeeping as plain Python: slots, rows, keys, budget, dead workers.

The cluster tests show these rules end to end; here each rule is pinned on its own, at
the edges a real cluster rarely reaches (a full minute window, a dead worker's budget).
"""

from __future__ import annotations

import pytest

from runner.cluster.address import check_address, choose
from runner.cluster.limits import HORIZON_S, AccountLimits, AccountSlots
from runner.cluster.state import ABANDONED, BatchState, SharedBudget
from runner.config.model import ClusterSpec
from runner.errors import UsageError


def test_slots_of_every_worker_share_one_pace_and_stop_at_the_horizon() -> None:
    slots = AccountSlots(AccountLimits(rpm=600))  # one every 0.1 s
    a = slots.grant("a", 8, 0, now=100.0)
    b = slots.grant("b", 8, 0, now=100.0)
    assert a == pytest.approx([100.0 + 0.1 * i for i in range(6)])  # 0.0 .. 0.5 s ahead
    assert b == pytest.approx([100.6])  # the first slot is always granted, however far
    assert all(t <= 100.0 + HORIZON_S + 1e-9 for t in a)


def test_a_full_minute_window_pushes_the_next_slot_a_minute_on() -> None:
    slots = AccountSlots(AccountLimits(rpm=2))
    first = slots.grant("a", 1, 0, now=0.0) + slots.grant("a", 1, 0, now=30.0)
    assert first == [0.0, 30.0]
    assert slots.grant("b", 1, 0, now=31.0) == [60.0]


def test_max_concurrency_counts_every_worker_and_frees_with_finished_or_a_dead_holder() -> None:
    slots = AccountSlots(AccountLimits(max_concurrency=2))
    assert len(slots.grant("a", 2, 0, now=0.0)) == 2
    assert slots.grant("b", 1, 0, now=0.0) == []
    slots.finished("a", 1, 0, now=0.0)
    assert len(slots.grant("b", 1, 0, now=0.0)) == 1
    slots.forget("a")  # a's worker died: its request in flight is over
    assert len(slots.grant("b", 1, 0, now=0.0)) == 1


def test_a_cooldown_holds_back_every_slot_until_it_ends() -> None:
    slots = AccountSlots(AccountLimits(rpm=60))
    slots.cool(12.5)
    assert slots.grant("a", 1, 0, now=10.0) == [12.5]


def test_rows_are_handed_out_once_and_a_dead_workers_rows_come_back() -> None:
    state = BatchState("b", "client", b"", None)
    assert state.claim_rows("w1", [1, 2, 3]) == ([1, 2, 3], [])
    assert state.claim_rows("w2", [2, 3, 4]) == ([4], [2, 3])
    state.put("w1", b"records of row 1", [1])
    assert state.worker_gone("w1") == [2, 3]
    assert state.claim_rows("w2", [1, 2, 3]) == ([2, 3], [])  # 1 is done
    kinds = [kind for _, kind, _ in state.take(0)]
    assert kinds == ["stream", ABANDONED]
    assert state.take(2) == []


def test_a_key_finished_anywhere_is_handed_over_with_its_artifacts() -> None:
    state = BatchState("b", "client", b"", None)
    assert state.claim_key("w1", "k").state == "yours"
    assert state.claim_key("w2", "k").state == "wait"
    state.release_key("w1", "k", [{"uri": "s3://b/x.txt"}])
    claim = state.claim_key("w2", "k")
    assert (claim.state, claim.artifacts) == ("yours", [{"uri": "s3://b/x.txt"}])
    state.claim_key("w3", "other")
    state.workers.add("w3")
    state.worker_gone("w3")
    assert state.claim_key("w2", "other").state == "yours"  # a dead holder blocks nobody


def test_the_budget_is_one_cap_and_a_dead_worker_is_charged_its_slice() -> None:
    budget = SharedBudget(1.0)
    assert budget.grant("a", 0.4, 0.1) == 0.4
    assert budget.grant("b", 0.8, 0.1) == pytest.approx(0.6)
    assert budget.grant("c", 0.2, 0.1) == 0.0  # nothing left for even one call
    budget.report("a", consumed=0.1, spent=0.09, returned=0.3)
    assert budget.available() == pytest.approx(0.31)
    budget.worker_gone("b")
    assert budget.spent == pytest.approx(0.69) and not budget.exhausted


def test_stop_orders_only_get_stronger() -> None:
    state = BatchState("b", "client", b"", None)
    state.request_stop("soft", "Ctrl-C")
    state.request_stop("rows", "fail-fast")
    assert (state.stop, state.stop_reason) == ("soft", "Ctrl-C")
    state.request_stop("hard", "again")
    assert state.stop == "hard"


def test_cluster_addresses() -> None:
    assert check_address("tcp://10.0.0.1:8786") == "tcp://10.0.0.1:8786"
    assert check_address("local:4") == "local:4"
    for bad in ("10.0.0.1:8786", "local:0", "local:x"):
        with pytest.raises(UsageError, match="--cluster"):
            check_address(bad)
    configured = ClusterSpec("tcp://h:8786", 3.0)
    assert choose(None, configured) == configured
    assert choose("none", configured) is None
    assert choose("local:2", configured) == ClusterSpec("local:2", 3.0)
