"""The cycle collector's pace while runs are in flight.

CPython collects its youngest generation every 700 net new container objects. A run
with hundreds of jobs in flight keeps thousands of such objects alive (tasks, requests,
answers, records, results), so nearly every young collection finds them still alive,
walks them, and promotes them to be walked again by the older generations: measured on
2,000 chat jobs at concurrency 200, about 0.25 ms of collector time per job, a sixth of
the job's CPU. Almost none of it frees anything, since a job's objects die by reference
count. At 50,000 the collector's share falls to about 0.03 ms per job, while a cycle
that does become garbage still waits for at most 50,000 new objects (a few MB).

The threshold is process-wide, so it is raised only while at least one run is in
flight and put back when the last one ends; a program that set its own (a higher one,
or 0 to switch collection off) keeps it.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

#: Net new container objects between two young collections while runs are in flight.
YOUNG_THRESHOLD = 50_000

_lock = threading.Lock()
_runs_in_flight = 0
#: The thresholds to put back when the last run ends (None: nothing was changed).
_saved: tuple[int, int, int] | None = None


@contextmanager
def paced_for_a_run() -> Iterator[None]:
    """Raise the young generation's threshold for as long as the block runs (nested and
    concurrent blocks share one raise)."""
    global _runs_in_flight, _saved
    with _lock:
        if _runs_in_flight == 0:
            current = gc.get_threshold()
            if 0 < current[0] < YOUNG_THRESHOLD:
                _saved = current
                gc.set_threshold(YOUNG_THRESHOLD, *current[1:])
        _runs_in_flight += 1
    try:
        yield
    finally:
        with _lock:
            _runs_in_flight -= 1
            if _runs_in_flight == 0 and _saved is not None:
                if gc.get_threshold()[0] == YOUNG_THRESHOLD:  # unless someone changed it since
                    gc.set_threshold(*_saved)
                _saved = None
