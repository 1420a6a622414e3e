"""Bad input is one clear line and exit 2, never an internal error (exit 3).

Each case used to end in "internal error (a bug)" with a traceback in a fixed
/tmp/mediamix-crash.log: a CSV cell over the csv module's 128 KiB cap, JSONL nested 100,000
deep, a 5,000-digit integer, a lone surrogate ("\\ud800", also what an undecodable byte on
the command line becomes), a run-log lock that is a folder. The same limits hold for batch
rows, ``-i NAME=VALUE`` and ``generate --prompt`` (runner/config/input_values.py).
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from pathlib import Path

import click
import pytest

from runner.cli.boundary import run_guarded
from runner.config.input_values import MAX_TEXT_CHARS
from tests.batch_support import PIPELINE, batch_project
from tests.fakeprovider import FakeProviderServer
from tests.test_cli_batch import mediamix

#: An input file's rows: name -> JSON line (each is one row).
HOSTILE_ROWS = {
    "digits": '{"topic": "a", "n": ' + "9" * 5000 + "}",
    "surrogate": '{"topic": "\\ud800"}',
    "deep": '{"topic": "a", "tags": ' + "[" * 100_000 + "]" * 100_000 + "}",
    "nested": '{"topic": "a", "tags": ' + "[" * 40 + "]" * 40 + "}",
    "long": json.dumps({"topic": "x" * (MAX_TEXT_CHARS + 1)}),
    "nan": '{"topic": "a", "score": NaN}',
}
EXPECTED = {
    "digits": "invalid JSON: Exceeds the limit (4300 digits) for integer string conversion",
    "surrogate": "input 'topic': text is not valid Unicode: '\\ud800' at character 1 is a lone "
    "surrogate",
    "deep": "JSON nested too deeply (at most 32 levels)",
    "nested": "input 'tags': lists and objects are nested more than 32 deep",
    "long": f"input 'topic': text is {MAX_TEXT_CHARS + 1:,} characters long; at most "
    f"{MAX_TEXT_CHARS:,} are accepted",
    "nan": "input 'score': the number nan is not finite",
}

WITH_LISTS = {
    **PIPELINE,
    "inputs": {
        **PIPELINE["inputs"],  # type: ignore[dict-item]
        "tags": {"type": "list", "default": []},
        "score": {"type": "number", "default": 0},
    },
}


@pytest.fixture
def project_root(tmp_path: Path, fake: FakeProviderServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    return batch_project(tmp_path / "p", fake, monkeypatch, pipeline=WITH_LISTS).root


def test_hostile_jsonl_rows_are_bad_rows_with_their_line(
    project_root: Path,
    tmp_path: Path,
    fake: FakeProviderServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rows = tmp_path / "rows.jsonl"
    rows.write_text('{"topic": "fine"}\n' + "\n".join(HOSTILE_ROWS.values()) + "\n")

    code, _, err = mediamix(
        capsys, "-C", str(project_root), "batch", "notes", str(rows), "--on-bad-row", "fail"
    )
    assert code == 2, err
    assert "Traceback" not in err and "internal error" not in err
    for line, name in enumerate(HOSTILE_ROWS, 2):
        [said] = [s for s in err.splitlines() if s.startswith(f"{rows}:{line}: ")]
        assert EXPECTED[name] in said and len(said) < 400, said
    assert fake.state.count("") == 0

    code, out, err = mediamix(
        capsys, "-C", str(project_root), "batch", "notes", str(rows), "--json"
    )
    assert code == 1, err  # bad rows skipped: not a clean batch, but the good row ran
    summary = json.loads(out)
    assert summary["rows_succeeded"] == 1 and summary["rows_bad"] == len(HOSTILE_ROWS)


def test_csv_cells_past_the_csv_module_cap_are_inputs_like_any_other(
    project_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = tmp_path / "rows.csv"
    big, too_big = "b" * (200 << 10), "c" * (MAX_TEXT_CHARS + 10)  # 128 KiB was the cap
    rows.write_text(f"topic,n\n{big},1\n{too_big},2\nfine,3\n")

    code, out, err = mediamix(
        capsys, "-C", str(project_root), "batch", "notes", str(rows), "--json"
    )
    assert code == 1, err
    summary = json.loads(out)
    assert summary["rows_succeeded"] == 2
    [bad] = summary["bad_rows"]
    assert bad["line"] == 3
    assert f"input 'topic': text is {MAX_TEXT_CHARS + 10:,} characters long" in bad["error"]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["-i", "n=" + "9" * 5000], "input 'n' expects a integer, got '99999"),
        (["-i", "topic=\udced\udca0\udc80"], "is a lone surrogate (an undecodable byte?)"),
        (["-i", "tags=" + "[" * 100_000], "input 'tags': lists and objects are nested too"),
        (["-i", "tags=" + "[" * 40 + "]" * 40], "input 'tags': lists and objects are nested"),
        (["-i", "topic=" + "x" * (MAX_TEXT_CHARS + 1)], "characters long; at most"),
        (["-i", "score=nan"], "input 'score': the number nan is not finite"),
    ],
    ids=["digits", "undecodable", "deep", "nested", "long", "nan"],
)
def test_command_line_inputs_have_the_same_bounds(
    args: list[str],
    expected: str,
    project_root: Path,
    fake: FakeProviderServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = mediamix(capsys, "-C", str(project_root), "run", "notes", *args)
    assert code == 2, err
    [line] = err.splitlines()
    assert line.startswith("mediamix: error: ") and expected in line and len(line) < 400, line
    assert fake.state.count("") == 0


def test_inputs_files_and_generate_prompts_have_the_same_bounds(
    project_root: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    inputs = tmp_path / "inputs.json"
    inputs.write_text('{"topic": "a", "tags": ' + "[" * 100_000 + "]" * 100_000 + "}")
    code, _, err = mediamix(
        capsys, "-C", str(project_root), "run", "notes", "--inputs-file", str(inputs)
    )
    assert code == 2 and err.strip() == f"mediamix: error: {inputs}: JSON nested too deeply"

    code, _, err = mediamix(
        capsys, "-C", str(project_root), "generate", "--type", "text", "--prompt", "\ud800 a"
    )
    assert code == 2, err
    assert err.startswith("mediamix: error: input 'prompt': text is not valid Unicode")
    assert err.count("\n") == 1
    # generate has its own, smaller cap on prompts (32,000 characters): also exit 2.
    code, _, err = mediamix(
        capsys, "-C", str(project_root), "generate", "--type", "text", "--prompt", "x" * 40_000
    )
    assert code == 2 and "at most 32,000 are accepted" in err, err


def test_a_lock_file_that_is_a_folder_is_one_line_and_exit_2(
    project_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = mediamix(capsys, "-C", str(project_root), "run", "notes", "-i", "topic=x")
    assert code == 0, err
    lock = project_root / ".mediamix" / "runlog" / "runlog.lock"
    lock.unlink(missing_ok=True)
    lock.mkdir()
    code, _, err = mediamix(capsys, "-C", str(project_root), "jobs")
    assert code == 2
    assert err == (
        f"mediamix: error: {lock} is a folder; mediamix keeps its run-log lock file "
        "there: remove the folder\n"
    )


@click.command()
def _buggy() -> None:
    raise RuntimeError("a bug")


def _crash(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exited:
        run_guarded(_buggy, argv)
    return int(exited.value.code or 0), capsys.readouterr().err


def test_crash_logs_go_under_the_state_dir_or_a_private_temporary_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MEDIAMIX_STATE_DIR")
    project = tmp_path / "proj"
    project.mkdir()
    (project / "mediamix.yaml").write_text("concurrency: 2\n")
    monkeypatch.setenv("MEDIAMIX_PROJECT", str(project))
    code, err = _crash([], capsys)
    log = project / ".mediamix" / "crash.log"
    assert code == 3 and f"details written to {log}." in err
    assert "RuntimeError: a bug" in log.read_text()
    assert stat.S_IMODE(log.stat().st_mode) == 0o600

    # No project anywhere: a new private file, never a fixed name in /tmp.
    monkeypatch.delenv("MEDIAMIX_PROJECT")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    code, err = _crash([], capsys)
    [made] = list((tmp_path / "tmp").iterdir())
    assert code == 3 and f"details written to {made}." in err
    assert made.name.startswith("mediamix-crash-") and made.name != "mediamix-crash.log"
    assert stat.S_IMODE(made.stat().st_mode) == 0o600
    assert os.path.exists(made) and "RuntimeError: a bug" in made.read_text()
