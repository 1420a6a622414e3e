"""The one error boundary: no input, however broken, shows a Python traceback.

Known errors (MediamixError) print one clear message and exit 1 (2 for configuration
and usage problems); Ctrl-C exits 130; anything else is a bug: exit 3, with the
traceback appended to ``crash.log`` in the state dir (MEDIAMIX_STATE_DIR, else the
project's ``.mediamix/``; with no project, a new private file in the temporary folder),
whose path is printed.
"""

from __future__ import annotations

import signal
import sys
import traceback
from datetime import UTC, datetime
from typing import NoReturn

import click

from runner import __version__
from runner.errors import ConfigError, MediamixError, redact

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 3
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143


class Terminated(BaseException):
    """SIGTERM before (or after) a run's own graceful handling is in place."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise Terminated


def _project_option(argv: list[str]) -> str | None:
    """The ``-C``/``--project`` value in ``argv``, if any (the group's option, read here
    because the command that crashed may never have parsed it)."""
    for i, arg in enumerate(argv):
        if arg in ("-C", "--project") and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--project="):
            return arg.partition("=")[2]
    return None


def report_error(exc: MediamixError) -> int:
    if isinstance(exc, ConfigError):
        for diagnostic in exc.diagnostics:
            click.echo(redact(str(diagnostic)), err=True)
        n = len(exc.diagnostics)
        click.echo(f"mediamix: {n} problem{'s' if n != 1 else ''} found", err=True)
    else:
        click.echo(f"mediamix: error: {redact(str(exc))}", err=True)
    return exc.exit_code


def run_guarded(cli: click.Command, argv: list[str]) -> NoReturn:
    # SIGTERM (CI runners, Kubernetes, systemd, `timeout`) exits 143 with one line, not a
    # bare kill; while a run works, its own handlers stop it gracefully instead.
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        code = cli.main(args=argv, prog_name="mediamix", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("mediamix: interrupted", err=True)
        code = EXIT_INTERRUPTED
    except KeyboardInterrupt:
        click.echo("mediamix: interrupted", err=True)
        code = EXIT_INTERRUPTED
    except Terminated:
        click.echo("mediamix: stopped by SIGTERM", err=True)
        code = EXIT_TERMINATED
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.ClickException as exc:
        exc.show()
        code = EXIT_USAGE
    except MediamixError as exc:
        code = report_error(exc)
    except BrokenPipeError:
        code = EXIT_FAILED
    except Exception:
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        header = f"--- {stamp} mediamix {__version__} ---\n"
        text = header + redact(traceback.format_exc())
        # Imported only now: a crash is rare, and its module's imports (tempfile,
        # secrets) would cost every command's start-up.
        from runner.crashlog import write_crash_log

        path = write_crash_log(text, _project_option(argv))
        click.echo(
            f"mediamix: internal error (a bug); details written to {path}. "
            "Please report it with that file.",
            err=True,
        )
        code = EXIT_INTERNAL
    sys.exit(code if isinstance(code, int) else EXIT_OK)
