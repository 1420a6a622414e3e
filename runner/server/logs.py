"""No traceback on the terminal: what aiohttp and asyncio would print goes to the crash log.

aiohttp logs an exception it caught (a handler that failed outside our middleware, a
broken connection) with its traceback, and asyncio logs a task that failed unobserved;
Python's last-resort handler would print both to stderr. Here each becomes a crash-log
entry and one line naming its id, given to ``report`` (the CLI prints it).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from runner.crashlog import crash_log_path, record_crash
from runner.errors import redact

Report = Callable[[str], None]
_LOGGERS = ("aiohttp.server", "aiohttp.web", "aiohttp.access", "aiohttp.internal", "asyncio")


class CrashLogHandler(logging.Handler):
    def __init__(self, report: Report) -> None:
        super().__init__(logging.WARNING)
        self.report = report

    def emit(self, record: logging.LogRecord) -> None:
        try:
            exc = record.exc_info[1] if record.exc_info else None
            if exc is not None:
                crash_id = record_crash(exc, context=record.getMessage()[:200])
                self.report(
                    f"mediamix serve: internal error (crash id {crash_id}); "
                    f"details in {crash_log_path()}"
                )
            else:
                self.report(f"mediamix serve: {redact(record.getMessage())[:300]}")
        except Exception:  # a log handler must never raise
            pass


def install(report: Report) -> None:
    handler = CrashLogHandler(report)
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.propagate = False


def loop_exception_handler(
    report: Report,
) -> Callable[[asyncio.AbstractEventLoop, dict[str, Any]], None]:
    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, BaseException):
            crash_id = record_crash(exc, context=str(context.get("message", ""))[:200])
            report(f"mediamix serve: internal error (crash id {crash_id}); "
                   f"details in {crash_log_path()}")  # fmt: skip
        else:
            report(f"mediamix serve: {redact(str(context.get('message', '')))[:300]}")

    return handle
