from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from runner.cli.main import cli


def test_help_lists_commands_and_exits_zero() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "Usage: mediamix" in result.output


def test_help_imports_no_heavy_modules() -> None:
    code = (
        "import sys\n"
        "from runner.cli.main import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('duckdb', 'httpx', 'jinja2', 'aiohttp', 'PIL', 'dask',"
        " 'distributed') if m in sys.modules]\n"
        "sys.stderr.write('HEAVY=' + ','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY=" in out.stderr
    assert out.stderr.split("HEAVY=")[1].strip() == ""


def test_unknown_command_is_a_usage_error_without_traceback() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "runner.cli.main", "no-such-command"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert "No such command" in out.stderr
