"""Counters and histograms of what the service ran, in Prometheus' text format (0.0.4).

Fed by the same records as the live board (``LiveBoard.listeners``), so nothing is
counted twice and nothing the run log does not show is counted. Counters start at zero
when the process starts, as Prometheus expects of any exporter (LiteLLM's proxy and
Dask's scheduler count the same way); the run log keeps the lasting history.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

from runner.service.board import api_status

#: Seconds: from a quick text call to a long video render.
BUCKETS: tuple[float, ...] = (
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
)  # fmt: skip
FINAL = frozenset({"succeeded", "failed", "skipped", "cancelled"})
_REMEMBERED_JOBS = 50_000

Labels = tuple[tuple[str, str], ...]


class Histogram:
    def __init__(self) -> None:
        self.buckets = [0] * len(BUCKETS)
        self.count = 0
        self.total = 0.0

    def observe(self, seconds: float) -> None:
        self.count += 1
        self.total += seconds
        for i, bound in enumerate(BUCKETS):
            if seconds <= bound:
                self.buckets[i] += 1


def _labels(**values: Any) -> Labels:
    return tuple((k, "" if v is None else str(v)) for k, v in values.items())


class Metrics:
    def __init__(self) -> None:
        self.jobs: dict[Labels, int] = {}
        self.attempts: dict[Labels, int] = {}
        self.cost: dict[Labels, float] = {}
        self.job_seconds: dict[Labels, Histogram] = {}
        self.attempt_seconds: dict[Labels, Histogram] = {}
        self._counted: OrderedDict[str, None] = OrderedDict()

    def record(self, table: str, fields: Mapping[str, Any]) -> None:
        if table == "jobs":
            status = api_status(fields.get("status"), fields.get("error_class"))
            if status not in FINAL or fields["job_id"] in self._counted:
                return
            self._counted[fields["job_id"]] = None
            if len(self._counted) > _REMEMBERED_JOBS:
                self._counted.popitem(last=False)
            key = _labels(
                status=status,
                media_type=fields.get("media_type"),
                provider=fields.get("provider"),
                model=fields.get("model"),
            )
            self.jobs[key] = self.jobs.get(key, 0) + 1
            if fields.get("latency_ms") is not None and status in ("succeeded", "failed"):
                hist_key = _labels(media_type=fields.get("media_type"), status=status)
                hist = self.job_seconds.setdefault(hist_key, Histogram())
                hist.observe(float(fields["latency_ms"]) / 1000)
        elif table == "attempts":
            key = _labels(
                status=fields.get("status"),
                provider=fields.get("provider"),
                model=fields.get("model"),
            )
            self.attempts[key] = self.attempts.get(key, 0) + 1
            model = _labels(provider=fields.get("provider"), model=fields.get("model"))
            if fields.get("cost_usd") is not None:
                self.cost[model] = self.cost.get(model, 0.0) + float(fields["cost_usd"])
            if fields.get("latency_ms") is not None and fields.get("status") != "skipped":
                hist = self.attempt_seconds.setdefault(model, Histogram())
                hist.observe(float(fields["latency_ms"]) / 1000)

    def exposition(self, gauges: Iterable[tuple[str, str, str, Mapping[Labels, float]]]) -> str:
        """The whole text page. ``gauges``: (name, type, help, values by labels)."""
        out: list[str] = []
        _family(out, "mediamix_jobs_total", "counter",
                "Jobs that reached a final status, by status, media type and winning "
                "provider/model.", self.jobs)  # fmt: skip
        _family(out, "mediamix_attempts_total", "counter",
                "Provider attempts by status, provider and model.", self.attempts)  # fmt: skip
        _family(out, "mediamix_cost_usd_total", "counter",
                "Known cost of attempts in USD, by provider and model.", self.cost)  # fmt: skip
        _histograms(out, "mediamix_job_duration_seconds",
                    "End-to-end time of finished jobs.", self.job_seconds)  # fmt: skip
        _histograms(out, "mediamix_attempt_duration_seconds",
                    "Time of provider attempts.", self.attempt_seconds)  # fmt: skip
        for name, kind, help_text, values in gauges:
            _family(out, name, kind, help_text, values)
        return "\n".join(out) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _label_text(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels) + "}"


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


def _family(
    out: list[str], name: str, kind: str, help_text: str, values: Mapping[Labels, float]
) -> None:
    out.append(f"# HELP {name} {help_text}")
    out.append(f"# TYPE {name} {kind}")
    for labels, value in sorted(values.items()):
        out.append(f"{name}{_label_text(labels)} {_number(value)}")


def _histograms(
    out: list[str], name: str, help_text: str, values: Mapping[Labels, Histogram]
) -> None:
    out.append(f"# HELP {name} {help_text}")
    out.append(f"# TYPE {name} histogram")
    for labels, hist in sorted(values.items()):
        for bound, count in zip(BUCKETS, hist.buckets, strict=True):
            le = (*labels, ("le", _number(bound)))
            out.append(f"{name}_bucket{_label_text(le)} {count}")
        out.append(f"{name}_bucket{_label_text((*labels, ('le', '+Inf')))} {hist.count}")
        out.append(f"{name}_sum{_label_text(labels)} {_number(hist.total)}")
        out.append(f"{name}_count{_label_text(labels)} {hist.count}")
