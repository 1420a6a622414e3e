"""`mediamix verify`: the media type x workflow matrix, real files, JUnit and Markdown."""

from __future__ import annotations

import asyncio
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.cli.main import main
from runner.config.project import load_workspace
from runner.verify import Case, verify
from tests.engine_support import ScriptedProvider, make_project, preset_yaml, scripted
from tests.fakeprovider import FakeProviderServer
from tests.test_verify_junit_schema import assert_valid_junit

MEDIA = ("image", "video", "audio", "text", "document")
MATRIX = {f"{m}-{w}" for m in MEDIA for w in ("simple", "adaptive")}


def mediamix(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    out, err = capsys.readouterr()
    code = exited.value.code
    return (code if isinstance(code, int) else 0), out, err


@pytest.fixture
def fresh(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    assert mediamix(capsys, "init", str(tmp_path / "p"))[0] == 0
    return tmp_path / "p"


def test_offline_verify_passes_on_a_fresh_project_with_reports(
    fresh: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junit, summary = tmp_path / "verify.xml", tmp_path / "summary.md"
    code, out, err = mediamix(
        capsys, "-C", str(fresh), "verify", "--offline", "--junit", str(junit),
        "--summary", str(summary), "--json",
    )  # fmt: skip
    assert code == 0, out + err
    result = json.loads(out)
    assert result["passed"] and result["cases"] == 10 and result["failed"] == 0
    assert {r["provider"] for r in result["results"]} == {"local"}
    for r in result["results"]:  # every artifact is a real, stored file
        path = Path(r["uri"].removeprefix("file://"))
        assert path.is_file() and path.stat().st_size > 0

    assert_valid_junit(junit)
    # The files written are named on stderr (stdout holds only the JSON).
    assert f"wrote JUnit XML to {junit}" in err
    assert f"wrote the Markdown summary to {summary}" in err
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures")) == ("10", "0")
    cases = suite.findall("testcase")
    assert {c.get("name") for c in cases} == MATRIX
    assert all(c.find("failure") is None and float(c.get("time", "-1")) > 0 for c in cases)

    text = summary.read_text(encoding="utf-8")
    assert "10/10 passed (100%)" in text
    assert (
        sum(1 for line in text.splitlines() if line.startswith("| ") and "| pass |" in line) == 10
    )


def test_a_broken_preset_fails_verify_with_a_failure_element(
    fresh: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The best image preset now demands an impossible width: image cases must fail.
    (fresh / "presets" / "broken.yaml").write_text(
        "media_type: image\nstrategy: adaptive\npriority: 100\n"
        "models:\n  - {provider: local, model: card}\n"
        "validate: {min_width: 100000}\nretry: {max_attempts: 1}\n",
        encoding="utf-8",
    )
    junit = tmp_path / "verify.xml"
    code, out, err = mediamix(
        capsys, "-C", str(fresh), "verify", "--offline", "--junit", str(junit)
    )
    assert code == 1, out + err
    assert "8/10 passed" in out
    assert_valid_junit(junit)
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "2"
    failed = {c.get("name"): c.find("failure") for c in suite.findall("testcase")}
    for name in ("image-simple", "image-adaptive"):
        failure = failed[name]
        assert failure is not None and "100000" in (failure.get("message") or "")
    assert all(failed[n] is None for n in MATRIX - {"image-simple", "image-adaptive"})


def test_until_pass_reruns_a_failing_case_until_it_passes(tmp_path: Path) -> None:
    provider_iter: Iterator[ScriptedProvider] = scripted()
    provider = next(provider_iter)
    try:
        project = make_project(tmp_path)
        project.write(
            "presets/flaky.yaml", preset_yaml("image", ["flaky"], priority=100, strategy="adaptive")
        )
        provider.script("flaky", "permanent", "permanent")  # round 1: both cases fail
        ws = load_workspace(project.root)
        cases = [Case("image", "simple"), Case("image", "adaptive")]
        once = asyncio.run(verify(ws, cases=cases))
        assert not once.passed and len(once.failures) == 2
        provider.script("flaky", "permanent")  # fails once more, then succeeds
        again = asyncio.run(verify(ws, cases=cases, until_pass=True, deadline_s=30))
    finally:
        provider_iter.close()
    assert again.passed and again.rounds == 2
    assert sorted(r.rounds for r in again.results) == [1, 2]
    assert len(provider.calls) == 2 + 3


def test_verify_options_are_checked(fresh: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = mediamix(capsys, "-C", str(fresh), "verify", "--until-pass")
    assert code == 2 and "--deadline" in err
    code, _, err = mediamix(capsys, "-C", str(fresh), "verify", "--judge", "gpt-4.1-mini")
    assert code == 2 and "--judge wants PROVIDER/MODEL" in err
    code, _, err = mediamix(capsys, "-C", str(fresh), "verify", "--judge", "runway/gen4.5")
    assert code == 2 and "provider 'runway' cannot judge" in err


def test_verify_judge_scores_the_matrix_and_junit_carries_the_scores(
    fresh: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    fake: FakeProviderServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (fresh / "accounts.yaml").write_text(
        "accounts:\n  - {name: oa, provider: openai, api_key_env: TEST_OPENAI_KEY, "
        f"base_url: '{fake.base_url('openai')}'}}\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("TEST_OPENAI_KEY", "sk-verify-judge")
    # The judge dislikes the watercolour (the image prompt); everything else scores 0.9.
    fake.state.script_judge([("watercolour", 0.3)], default=0.9)
    junit = tmp_path / "verify.xml"
    code, out, err = mediamix(
        capsys, "-C", str(fresh), "verify", "--offline", "--judge", "openai/gpt-4.1-mini",
        "--min-score", "0.5", "--junit", str(junit), "--json",
    )  # fmt: skip

    assert code == 1, out + err  # the image cases' only candidate was rejected
    assert_valid_junit(junit)  # the scores use only what Jenkins' junit-10.xsd allows
    results = {r["case"]: r for r in json.loads(out)["results"]}
    for name, r in results.items():
        assert r["judge"] == "openai/gpt-4.1-mini", r
        if name.startswith("image-"):
            assert (r["passed"], r["error_class"]) == (False, "judge_rejected"), r
        else:
            assert (r["passed"], r["score"]) == (True, 0.9), r
    # Audio was heard through the judge vendor's speech-to-text model.
    assert fake.state.count("/audio/transcriptions") == 2
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["score.video-simple"] == "0.900" and "score.image-simple" not in props
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert "judge score: 0.90 by openai/gpt-4.1-mini" in (
        cases["text-adaptive"].findtext("system-out") or ""
    )
    failure = cases["image-simple"].find("failure")
    assert failure is not None and failure.get("type") == "judge_rejected"
    assert all(c.find("properties") is None for c in cases.values())  # not in junit-10.xsd
