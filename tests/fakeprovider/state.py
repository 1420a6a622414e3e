"""What the fake provider server remembers: the request log, injected faults, rate limits
and long-running tasks.

The server runs in its own thread; tests read and change this state from the test thread,
so every mutation takes one lock.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import random
import sys
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

from tests.fakeprovider.bulk import PaddedMp4

#: Faults the server can inject. The first group is answered by the generic middleware;
#: ``CONTENT_FAULTS`` are handed to the vendor handler (``server.fault_of(request)``) because
#: what they look like depends on the vendor's response format.
HTTP_FAULTS = frozenset({"400", "401", "404", "429", "500", "503", "529", "insufficient_quota"})
TRANSPORT_FAULTS = frozenset({"stall", "drop", "truncate", "malformed_json"})
CONTENT_FAULTS = frozenset(
    {"blank_image", "silence", "empty_data", "content_policy", "task_failed", "fewer_outputs"}
)
FAULTS = HTTP_FAULTS | TRANSPORT_FAULTS | CONTENT_FAULTS

RetryAfterFormat = Literal["seconds", "http-date", "ms"]

TaskStatus = Literal["queued", "in_progress", "completed", "failed"]


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    #: Header names lower-cased.
    headers: dict[str, str]
    #: The parsed JSON body, when the request had one.
    json: Any
    #: Multipart or urlencoded text fields; file parts are in ``files``.
    form: dict[str, str]
    files: dict[str, bytes]
    #: The API key the vendor's auth scheme carried ("" when none was sent).
    api_key: str
    vendor: str
    timestamp: float


@dataclass
class Fault:
    kind: str
    path_contains: str = ""
    times: int = 1
    retry_after: float | None = None
    delay_s: float | None = None
    retry_after_format: RetryAfterFormat = "seconds"
    #: None: the next ``times`` matching requests get it. A number: each matching request
    #: gets it with this chance (seeded, see ``FakeState.inject``), until it has fired
    #: ``times`` times (default: no end).
    probability: float | None = None

    def matches(self, path: str) -> bool:
        return self.times > 0 and self.path_contains in path


@dataclass
class TaskInfo:
    """A long-running job (video): done after ``polls_until_done`` status polls."""

    id: str
    vendor: str
    api_key: str
    created_at: float
    polls_until_done: int = 2
    polls: int = 0
    status: TaskStatus = "queued"
    #: Whatever the vendor handler needs to answer later (prompt, model, seconds, ...).
    payload: dict[str, Any] = field(default_factory=dict)
    #: Set when the task was created with the "task_failed" fault.
    fail: bool = False


class FakeState:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: list[RecordedRequest] = []
        self.faults: list[Fault] = []
        #: Draws for probabilistic faults: seeded, so a benchmark's fault pattern repeats.
        self._fault_rng = random.Random(0)
        self.tasks: dict[str, TaskInfo] = {}
        #: Published blobs (``/{vendor}/_files/{id}``): download URLs handed out by vendors.
        self.files: dict[str, tuple[bytes | PaddedMp4, str]] = {}
        self.rate_limit_rpm: int | None = None
        self.rate_window_s: float = 60.0
        self._rate_hits: dict[str, deque[float]] = {}
        #: Added before every vendor answer (benchmarks simulate model latency with it).
        self.latency_s: float = 0.0
        #: Default for new tasks.
        self.polls_until_done: int = 2
        #: Size of every video answer (None: the short clip itself); see tests.fakeprovider.bulk.
        self.video_bytes: int | None = None
        #: Usage fields (the vendor's own names) to report in every text answer instead
        #: of the real counts: hostile values such as 2**64, "12", -5 or NaN.
        self.usage: dict[str, Any] = {}
        #: The text every OpenAI chat answer carries instead of the echo (None: the echo).
        self.reply: str | None = None
        self._ids = itertools.count(1)
        self._reset_judge()

    # -- judging (tests.fakeprovider.judging) ---------------------------------------------

    def _reset_judge(self) -> None:
        #: (marker, score): the first marker found in what a judge was shown sets its score.
        self.judge_scores: list[tuple[str, float]] = []
        self.judge_default: float = 0.9
        #: Raw text every judge answers with instead of a score (an unparseable judge).
        self.judge_reply: str | None = None
        #: What each judge request carried (tests.fakeprovider.judging.Seen), in order.
        self.judge_calls: list[Any] = []
        #: sha256 of media this server generated -> a label (model, and what was asked).
        self.media_labels: dict[str, str] = {}

    def script_judge(
        self,
        scores: list[tuple[str, float]],
        *,
        default: float = 0.9,
        reply: str | None = None,
    ) -> None:
        with self._lock:
            self.judge_scores = list(scores)
            self.judge_default = default
            self.judge_reply = reply

    def record_judge_call(self, seen: Any) -> None:
        with self._lock:
            self.judge_calls.append(seen)

    def label_media(self, data: bytes, label: str) -> None:
        digest = hashlib.sha256(data).hexdigest()
        with self._lock:
            self.media_labels[digest] = label

    # -- faults ---------------------------------------------------------------------------

    def inject(
        self,
        fault: str,
        *,
        path_contains: str = "",
        times: int | None = None,
        retry_after: float | None = None,
        delay_s: float | None = None,
        retry_after_format: RetryAfterFormat = "seconds",
        probability: float | None = None,
        seed: int | None = None,
    ) -> None:
        """Queue a fault for the next ``times`` (default 1) requests whose path contains
        ``path_contains``; with ``probability``, give it to each such request with that
        chance instead (``times`` then caps how often it fires; default: no cap).

        One draw per request decides among all probabilistic faults, each owning its own
        band of [0, 1): a 429 at 0.1 and a 500 at 0.1 fail exactly 20 % of requests on
        average. ``seed`` re-seeds those draws (the same seed, the same pattern).
        """
        if fault not in FAULTS:
            raise ValueError(f"unknown fault {fault!r}; known: {', '.join(sorted(FAULTS))}")
        if times is None:
            times = 1 if probability is None else sys.maxsize
        if times < 1:
            raise ValueError("times must be at least 1")
        if probability is not None and not 0.0 < probability <= 1.0:
            raise ValueError("probability must be above 0 and at most 1")
        with self._lock:
            if seed is not None:
                self._fault_rng.seed(seed)
            standing = sum(f.probability or 0.0 for f in self.faults if f.probability)
            if probability is not None and standing + probability > 1.0 + 1e-9:
                raise ValueError("probabilistic faults may add up to at most 1")
            self.faults.append(
                Fault(
                    fault,
                    path_contains,
                    times,
                    retry_after,
                    delay_s,
                    retry_after_format,
                    probability,
                )
            )

    def take_fault(self, path: str) -> Fault | None:
        """The first pending fault matching ``path``, with one use consumed: counted faults
        first, in the order injected, then at most one probabilistic fault by one draw."""
        with self._lock:
            for fault in self.faults:
                if fault.probability is None and fault.matches(path):
                    return self._consume(fault)
            chances = [f for f in self.faults if f.probability is not None]
            if not chances:
                return None
            draw = self._fault_rng.random()
            for fault in chances:
                assert fault.probability is not None
                if draw < fault.probability:
                    return self._consume(fault) if fault.matches(path) else None
                draw -= fault.probability
        return None

    def _consume(self, fault: Fault) -> Fault:
        fault.times -= 1
        if fault.times == 0:
            self.faults.remove(fault)
        return fault

    # -- rate limits ----------------------------------------------------------------------

    def set_rate_limit(self, rpm: int | None, *, window_s: float = 60.0) -> None:
        """Allow ``rpm`` requests per API key per sliding ``window_s``; None lifts the limit."""
        with self._lock:
            self.rate_limit_rpm = rpm
            self.rate_window_s = window_s
            self._rate_hits.clear()

    def admit(self, api_key: str) -> int | None:
        """Count one request for ``api_key``; return Retry-After seconds if over the limit."""
        with self._lock:
            if self.rate_limit_rpm is None:
                return None
            now = time.monotonic()
            hits = self._rate_hits.setdefault(api_key, deque())
            while hits and hits[0] <= now - self.rate_window_s:
                hits.popleft()
            if len(hits) >= self.rate_limit_rpm:
                return max(1, math.ceil(hits[0] + self.rate_window_s - now))
            hits.append(now)
            return None

    # -- request log ----------------------------------------------------------------------

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def count(
        self, path_contains: str, *, key: str | None = None, method: str | None = None
    ) -> int:
        with self._lock:
            return sum(
                1
                for r in self.requests
                if path_contains in r.path
                and (key is None or r.api_key == key)
                and (method is None or r.method == method)
            )

    def last(self, path_contains: str = "") -> RecordedRequest:
        with self._lock:
            for r in reversed(self.requests):
                if path_contains in r.path:
                    return r
        raise LookupError(f"no request to a path containing {path_contains!r}")

    # -- long-running tasks ---------------------------------------------------------------

    def create_task(
        self, vendor: str, api_key: str, payload: dict[str, Any], *, fail: bool = False
    ) -> TaskInfo:
        with self._lock:
            task = TaskInfo(
                id=f"{vendor}-task-{next(self._ids)}-{uuid.uuid4().hex[:8]}",
                vendor=vendor,
                api_key=api_key,
                created_at=time.time(),
                polls_until_done=self.polls_until_done,
                payload=payload,
                fail=fail,
            )
            self.tasks[task.id] = task
            return task

    def poll_task(self, task_id: str) -> TaskInfo | None:
        """Advance a task by one poll; None if unknown."""
        with self._lock:
            task = self.tasks.get(task_id)
            if task is None:
                return None
            if task.status in ("queued", "in_progress"):
                task.polls += 1
                if task.polls >= task.polls_until_done:
                    task.status = "failed" if task.fail else "completed"
                else:
                    task.status = "in_progress"
            return task

    # -- published files ------------------------------------------------------------------

    def publish(self, vendor_prefix: str, data: bytes | PaddedMp4, content_type: str) -> str:
        """Store ``data`` and return its download path (no auth needed to fetch it)."""
        file_id = uuid.uuid4().hex
        with self._lock:
            self.files[file_id] = (data, content_type)
        return f"{vendor_prefix}/_files/{file_id}"

    # -- reset ----------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget requests, faults, rate limits, tasks and files; restore the defaults."""
        with self._lock:
            self.requests.clear()
            self.faults.clear()
            self.tasks.clear()
            self.files.clear()
            self.rate_limit_rpm = None
            self.rate_window_s = 60.0
            self._rate_hits.clear()
            self.latency_s = 0.0
            self.polls_until_done = 2
            self.video_bytes = None
            self.usage = {}
            self.reply = None
            self._reset_judge()
