"""An installed mediamix works outside this repository: schemas and presets ship in the wheel."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_wheel_ships_schemas_presets_and_pipelines(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-q", "-w", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("mediamix-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for kind in ("preset", "pipeline", "accounts", "project"):
        assert f"runner/_data/schemas/{kind}.schema.json" in names
    shipped_presets = {p.name for p in (REPO / "presets").glob("*.yaml")}
    assert {n.rsplit("/", 1)[1] for n in names if n.startswith("runner/_data/presets/")} == (
        shipped_presets
    )
    assert "runner/_data/pipelines/explainer.yaml" in names
    # The dashboard: static files only, no build step.
    shipped_static = {
        p.relative_to(REPO).as_posix() for p in (REPO / "runner/server/static").iterdir()
    }
    assert {"runner/server/static/index.html", "runner/server/static/app.js"} <= shipped_static
    assert shipped_static <= names
    assert not any(n.startswith("tests/") for n in names)

    # Unpacked away from the repo, it finds its own data: presets list, init validates.
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(site)}
    listed = subprocess.run(
        [sys.executable, "-m", "runner.cli.main", "presets", "--json"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    sources = {row["name"]: row["source"] for row in json.loads(listed.stdout)}
    assert sources["image-dalle3-simple"] == "built-in"
    located = subprocess.run(
        [sys.executable, "-c", "import runner; print(runner.__file__)"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert located.stdout.strip().startswith(str(site))
    subprocess.run(
        [sys.executable, "-m", "runner.cli.main", "init", "proj"],
        cwd=work,
        env=env,
        check=True,
        capture_output=True,
    )
    checked = subprocess.run(
        [sys.executable, "-m", "runner.cli.main", "validate"],
        cwd=work / "proj",
        env=env,
        capture_output=True,
        text=True,
    )
    assert checked.returncode == 0, checked.stderr
