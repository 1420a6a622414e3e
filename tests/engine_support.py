"""A scripted provider and a throwaway project, for engine tests.

The scripted provider is registered in-process (like simonw/llm's queue-fed fake models):
each model name has a queue of outcomes, so a test says exactly which candidate fails how.
It returns real media (noisy PNG, a tone WAV, text) so validation runs for real.
"""

from __future__ import annotations

import asyncio
import io
import math
import struct
import time
import wave
from collections import defaultdict, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from PIL import Image

from runner.errors import (
    CredentialsError,
    PermanentError,
    RateLimitedError,
    TransientError,
)
from runner.providers.base import CallContext, GenerationRequest, GenerationResult, Usage
from runner.providers.registry import register_provider, unregister_provider


def noisy_png(seed: int = 1, size: int = 320) -> bytes:
    image = Image.effect_noise((size, size), 40 + seed)
    buf = io.BytesIO()
    image.convert("RGB").save(buf, format="PNG")
    return buf.getvalue()


def flat_png(size: int = 320) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (size, size), (255, 255, 255)).save(buf, format="PNG")
    return buf.getvalue()


def tone_wav(seconds: float = 1.0, *, silent: bool = False) -> bytes:
    rate = 16000
    frames = b"".join(
        struct.pack("<h", 0 if silent else int(8000 * math.sin(2 * math.pi * 440 * n / rate)))
        for n in range(int(rate * seconds))
    )
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames)
    return buf.getvalue()


@dataclass
class Call:
    model: str
    prompt: str
    account: str | None
    api_key: str | None
    started: float
    finished: float = 0.0
    inputs: int = 0


@dataclass
class ScriptedProvider:
    """Outcomes per model: "ok", "flat", "silent", "empty", "transient", "permanent",
    "rate:<seconds>", "credentials", "sleep:<seconds>" (then ok), or, for images,
    "more:ok,flat,..." (ok, plus one further output of the same call per listed kind)."""

    name: ClassVar[str] = "scripted"
    media_types: ClassVar[frozenset[str]] = frozenset(
        {"image", "audio", "text", "video", "document"}
    )
    needs_key: ClassVar[bool] = False
    uses_http: ClassVar[bool] = False
    default_base_url: ClassVar[str | None] = None

    scripts: dict[str, deque[str]] = field(default_factory=lambda: defaultdict(deque))
    calls: list[Call] = field(default_factory=list)
    default: str = "ok"

    def script(self, model: str, *outcomes: str) -> None:
        self.scripts[model].extend(outcomes)

    def calls_to(self, model: str) -> list[Call]:
        return [c for c in self.calls if c.model == model]

    async def generate(self, request: GenerationRequest, ctx: CallContext) -> GenerationResult:
        call = Call(
            request.model,
            request.prompt,
            ctx.account,
            ctx.api_key,
            time.monotonic(),
            inputs=len(request.inputs),
        )
        self.calls.append(call)
        queue = self.scripts[request.model]
        outcome = queue.popleft() if queue else self.default
        try:
            return await self._outcome(outcome, request)
        finally:
            call.finished = time.monotonic()

    async def _outcome(self, outcome: str, request: GenerationRequest) -> GenerationResult:
        kind, _, arg = outcome.partition(":")
        if kind == "sleep":
            await asyncio.sleep(float(arg))
            kind = "ok"
        if kind == "transient":
            raise TransientError(f"{request.model}: 503 service unavailable", http_status=503)
        if kind == "permanent":
            raise PermanentError(f"{request.model}: 400 invalid request", http_status=400)
        if kind == "rate":
            raise RateLimitedError(
                f"{request.model}: 429 slow down", http_status=429, retry_after=float(arg or 0)
            )
        if kind == "credentials":
            raise CredentialsError(f"{request.model}: 401 bad key", http_status=401)
        usage = Usage(input_tokens=len(request.prompt) // 4, output_tokens=10)
        media = request.media_type
        if media == "text":
            text = "" if kind == "empty" else f"{request.model} says: {request.prompt}"
            return GenerationResult("text", mime="text/plain", text=text, usage=usage)
        if media == "image":
            data = flat_png() if kind == "flat" else noisy_png(len(self.calls))
            more = tuple(
                GenerationResult(
                    "image",
                    mime="image/png",
                    data=flat_png() if extra == "flat" else noisy_png(len(self.calls) + n),
                )
                for n, extra in enumerate(arg.split(",") if kind == "more" else [], 1)
            )
            return GenerationResult("image", mime="image/png", data=data, usage=usage, more=more)
        if media == "audio":
            return GenerationResult(
                "audio", mime="audio/wav", data=tone_wav(silent=kind == "silent"), usage=usage
            )
        raise PermanentError(f"scripted provider cannot make {media}")


@dataclass
class Project:
    root: Path

    def write(self, relative: str, text: str) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path

    @property
    def runlog(self) -> Path:
        return self.root / ".mediamix" / "runlog"


PROJECT_YAML = """\
storage: {url: file://outputs}
runlog: .mediamix/runlog
concurrency: 8
"""

ACCOUNTS_YAML = """\
accounts:
  - {name: s1, provider: scripted}
"""


def log_rows(runlog: Path, sql: str, params: list[Any] | None = None) -> list[dict[str, Any]]:
    """Rows of a query over the run log in ``runlog``, as dicts (what a user sees in SQL)."""
    from runner.runlog.store import RunLog

    with RunLog(runlog).connect_readonly() as con:
        cursor = con.execute(sql, params or [])
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def make_project(root: Path, *, accounts: str = ACCOUNTS_YAML) -> Project:
    project = Project(root)
    project.write("mediamix.yaml", PROJECT_YAML)
    project.write("accounts.yaml", accounts)
    return project


def preset_yaml(media_type: str, models: list[str], **extra: Any) -> str:
    """A preset of scripted models (``"local:card"`` for a local one)."""
    lines = [f"media_type: {media_type}", "models:"]
    for model in models:
        provider, _, name = model.rpartition(":")
        lines.append(f"  - {{provider: {provider or 'scripted'}, model: {name}}}")
    for key, value in extra.items():
        lines.append(f"{key}: {value}")
    return "\n".join(lines) + "\n"


@dataclass
class Scripted:
    provider: ScriptedProvider

    def __enter__(self) -> ScriptedProvider:
        register_provider(self.provider)
        return self.provider

    def __exit__(self, *exc: object) -> None:
        unregister_provider(self.provider.name)


def scripted() -> Iterator[ScriptedProvider]:
    provider = ScriptedProvider()
    with Scripted(provider):
        yield provider
