"""What a benchmark client is asked to do and what it reports (shared by the clients)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

#: 10 % 429 and 10 % 500, one seeded draw per request. A 429 says ``Retry-After: 0``: a
#: random 429 with a wait of seconds would bench every account all the time and measure
#: the vendor's wait, not the client; 0 leaves "go elsewhere or go again" to the client.
FAULTS: tuple[dict[str, Any], ...] = (
    {"fault": "429", "probability": 0.1, "retry_after": 0, "seed": 16},
    {"fault": "500", "probability": 0.1},
)
CHAT_PATH = "/openai/v1/chat/completions"


@dataclass
class Measured:
    completed: int
    requests: int
    wall_s: float
    cpu_s: float
    outbound: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Job:
    url: str
    requests: int
    concurrency: int
    #: Fail 20 % of answers (:data:`FAULTS`) once the warm-up is done.
    faults: bool
    #: A scratch folder (tmpfs when there is one) for whatever the client writes.
    folder: Path


def inject_faults(url: str) -> None:
    """Tell the fake server at ``url`` to fail 20 % of chat answers from now on."""
    for fault in FAULTS:
        httpx.post(
            f"{url}/_fake/faults", json={**fault, "path_contains": CHAT_PATH}
        ).raise_for_status()
