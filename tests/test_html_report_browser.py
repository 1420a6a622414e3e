"""The HTML report opens in a real browser: headless Chromium (Debian's `chromium` package)
renders it without console errors, the SVG charts are in the DOM, and the screenshot is
not blank. Skipped, saying why, where Chromium is not installed
(`apt-get install -y chromium`).

History: today's real runs against the fake provider server and the local generators,
plus six earlier days written through the run log's own writer (as a week of earlier
runs, or another machine's imported export, would have left them), so the per-day
charts have lines to draw.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image

from runner.cli.main import cli
from runner.runlog.records import AttemptRecord, JobRecord, RunRecord, new_id
from runner.runlog.store import RunLog
from tests.fakeprovider.server import FakeProviderServer

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install -y chromium)"
)

PROJECT = {
    "mediamix.yaml": "storage: {url: file://outputs}\n",
    "presets/notes.yaml": """\
media_type: text
models:
  - {provider: openai, model: gpt-4.1}
  - {provider: local, model: template}
retry: {max_attempts: 1}
""",
    "presets/cover.yaml": """\
media_type: image
models:
  - {provider: local, model: card, params: {width: 320, height: 180}}
""",
    "pipelines/brief.yaml": """\
name: brief
steps:
  - {id: notes, preset: notes, for_each: "range(6) | list", prompt: "Note {{ item }}"}
  - {id: cover, preset: cover, prompt: "Cover"}
""",
}


def seed_earlier_days(log: RunLog, today: datetime) -> None:
    """Six days of openai and local attempts: openai's success rate dips mid-week."""
    with log.writer() as writer:
        for back in range(6, 0, -1):
            day = today - timedelta(days=back)
            run_id = new_id()
            writer.write(RunRecord(run_id, "brief", day, status="succeeded", finished_at=day))
            failing = {6: 1, 5: 2, 4: 5, 3: 6, 2: 2, 1: 0}[back]  # of 8 jobs per day
            for n in range(8):
                job_id = new_id()
                at = day + timedelta(minutes=n)
                ok = n >= failing
                writer.write(
                    JobRecord(
                        job_id, run_id, "notes", "text", at, status="succeeded", preset="notes",
                        attempts=1 if ok else 2, finished_at=at, latency_ms=900.0 + 40 * n,
                    )
                )  # fmt: skip
                writer.write(
                    AttemptRecord(
                        new_id(), job_id, run_id, 1, "openai", "gpt-4.1", at,
                        "succeeded" if ok else "failed", account="oa", finished_at=at,
                        latency_ms=850.0 + 40 * n, cost_usd=0.0021 + 0.0003 * back if ok else None,
                    )
                )  # fmt: skip
                if not ok:
                    writer.write(
                        AttemptRecord(
                            new_id(), job_id, run_id, 2, "local", "template", at, "succeeded",
                            account="local", finished_at=at, latency_ms=3.0, cost_usd=0.0,
                        )
                    )  # fmt: skip


@pytest.fixture
def report(tmp_path: Path, fake: FakeProviderServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "project"
    for relative, text in {
        **PROJECT,
        "accounts.yaml": "accounts:\n  - {name: oa, provider: openai, api_key_env: TEST_OPENAI_KEY,"
        f" base_url: '{fake.base_url('openai')}'}}\n",
    }.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("TEST_OPENAI_KEY", "sk-report")
    seed_earlier_days(RunLog(root / ".mediamix" / "runlog"), datetime.now(UTC))
    fake.state.inject("500", path_contains="chat/completions", times=2)
    for _ in range(2):  # two runs today; the first meets two 500s and falls back twice
        pipeline = str(root / "pipelines" / "brief.yaml")
        args = ["-C", str(root), "run", pipeline, "--json", "--no-reuse"]  # both runs call
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, (result.output, result.exception)
        assert json.loads(result.stdout)["jobs_succeeded"] == 7

    out = tmp_path / "report.html"
    made = subprocess.run(
        [sys.executable, "-m", "runner.cli.main", "report", "--by", "provider",
         "--format", "html", "-o", str(out)],
        cwd=root, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    return out


def chromium(page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [
            CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
            "--window-size=1280,1600", *extra, page.as_uri(),
        ],
        capture_output=True, text=True, timeout=90,
    )  # fmt: skip


def console_messages(stderr: str) -> list[str]:
    """What the page logged to the console (Chromium tags these lines CONSOLE)."""
    return [line for line in stderr.splitlines() if "CONSOLE" in line]


def test_report_html_is_self_contained(report: Path) -> None:
    html = report.read_text(encoding="utf-8")
    assert html.startswith("<!DOCTYPE html>")
    assert "<script" not in html and "<link" not in html and "src=" not in html
    assert html.count("<svg") == 2 and html.count("<polyline") == 4  # 2 providers x 2 charts
    # Axes are labelled and ticks are round numbers.
    assert html.count(">UTC day</text>") == 2
    assert ">success rate</text>" in html and ">cost (USD)</text>" in html
    assert ">100%</text>" in html and ">$0</text>" in html


@needs_chromium
def test_report_renders_in_headless_chromium(report: Path, tmp_path: Path) -> None:
    # The console check can fail: a page that logs an error is caught.
    canary = tmp_path / "canary.html"
    canary.write_text("<!DOCTYPE html><script>console.error('canary broke')</script>")
    caught = chromium(canary, tmp_path / "profile-canary", "--dump-dom")
    assert any("canary broke" in line for line in console_messages(caught.stderr)), caught.stderr

    shot = tmp_path / "report.png"
    rendered = chromium(report, tmp_path / "profile-shot", f"--screenshot={shot}")
    assert rendered.returncode == 0, rendered.stderr
    assert console_messages(rendered.stderr) == []
    with Image.open(shot) as image:
        assert image.size == (1280, 1600)
        pixels = image.convert("RGB")
        colours = pixels.getcolors(maxcolors=1 << 16)
    assert colours is not None and len(colours) > 50, "the screenshot is (nearly) blank"
    by_colour = {rgb: count for count, rgb in colours}
    white = by_colour.get((255, 255, 255), 0)
    assert white < 0.97 * 1280 * 1600
    # Both series colours (local blue, openai red: sorted by name) were painted.
    assert by_colour.get((0x25, 0x63, 0xEB), 0) > 100
    assert by_colour.get((0xDC, 0x26, 0x26), 0) > 100

    dom = chromium(report, tmp_path / "profile-dom", "--dump-dom")
    assert dom.returncode == 0, dom.stderr
    assert console_messages(dom.stderr) == []
    page = dom.stdout
    assert page.count("<svg") == 2 and page.count("<polyline") == 4
    # A point per provider per day with attempts, in each chart: openai on all 7 days,
    # local on the 6 with a fallback (yesterday nothing failed).
    with RunLog(report.parent / "project" / ".mediamix" / "runlog").connect_readonly() as con:
        points = con.execute(
            "SELECT count(DISTINCT (provider, CAST(started_at AS DATE))) FROM attempts"
        ).fetchone()
    assert points is not None and points[0] >= 7 + 6  # more if the runs straddled midnight
    assert page.count("<circle") == 2 * points[0]
    assert "<td>openai</td>" in page and "<td>local</td>" in page
