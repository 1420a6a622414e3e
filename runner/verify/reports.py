"""Verification results for CI: JUnit XML (test reports) and Markdown (job summary pages)."""

from __future__ import annotations

import platform
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from runner.verify.matrix import VerifyResult

SUITE = "mediamix.verify"


def junit_xml(result: VerifyResult, *, timestamp: datetime | None = None) -> str:
    """One ``testsuite`` with a ``testcase`` per case; failures carry the reason."""
    when = (timestamp or datetime.now(UTC)).replace(microsecond=0).isoformat()
    counts = {
        "tests": str(len(result.results)),
        "failures": str(len(result.failures)),
        "errors": "0",
        "time": f"{result.time_s:.3f}",
    }
    # Jenkins' junit-10.xsd (tests/junit-10.xsd) allows ``skipped`` on <testsuite> only;
    # strict consumers reject a <testsuites skipped=...>.
    root = ET.Element("testsuites", {"name": "mediamix verify", **counts})
    suite = ET.SubElement(
        root,
        "testsuite",
        {
            "name": SUITE,
            **counts,
            "skipped": "0",
            "timestamp": when,
            "hostname": platform.node(),
        },
    )
    props = ET.SubElement(suite, "properties")
    ET.SubElement(props, "property", {"name": "offline", "value": str(result.offline).lower()})
    ET.SubElement(props, "property", {"name": "rounds", "value": str(result.rounds)})
    # Scores go on the suite: Jenkins' junit-10.xsd has no <properties> in a testcase.
    for r in result.results:
        if r.score is not None:
            ET.SubElement(
                props, "property", {"name": f"score.{r.case.name}", "value": f"{r.score:.3f}"}
            )
    for r in result.results:
        case = ET.SubElement(
            suite,
            "testcase",
            {
                "classname": f"{SUITE}.{r.case.media_type}",
                "name": r.case.name,
                "time": f"{r.time_s:.3f}",
            },
        )
        if not r.passed:
            failure = ET.SubElement(
                case,
                "failure",
                {"message": r.message[:500], "type": r.error_class or "failure"},
            )
            failure.text = r.message
        out = [f"rounds: {r.rounds}"]
        if r.provider:
            out.append(f"made by: {r.provider}/{r.model}")
        if r.uri:
            out.append(f"artifact: {r.uri}")
        if r.run_id:
            out.append(f"run: {r.run_id}")
        if r.score is not None:
            out.append(f"judge score: {r.score:.2f} by {r.judge}: {r.score_reason or ''}")
        elif r.judge:
            out.append(f"judge: {r.judge} gave no score (see the run log)")
        ET.SubElement(case, "system-out").text = "\n".join(out)
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_summary(result: VerifyResult) -> str:
    total = len(result.results)
    ok = total - len(result.failures)
    pct = 100.0 * ok / total if total else 0.0
    mark = "✅" if result.passed else "❌"
    mode = "offline (local generators)" if result.offline else "configured accounts"
    lines = [
        f"## {mark} mediamix verify: {ok}/{total} passed ({pct:.0f}%)",
        "",
        f"Mode: {mode}. Rounds: {result.rounds}. Time: {result.time_s:.1f} s."
        + (" Deadline reached before every case passed." if result.deadline_hit else ""),
        "",
        "| Case | Media | Workflow | Result | Made by | Score | Time (s) | Details |",
        "|---|---|---|---|---|---:|---:|---|",
    ]
    for r in result.results:
        by = f"{r.provider}/{r.model}" if r.provider else "-"
        lines.append(
            f"| {r.case.name} | {r.case.media_type} | {r.case.workflow} | "
            f"{'pass' if r.passed else '**FAIL**'} | {_cell(by)} | "
            f"{f'{r.score:.2f}' if r.score is not None else '-'} | {r.time_s:.2f} | "
            f"{_cell(r.message[:200])} |"
        )
    return "\n".join(lines) + "\n"
