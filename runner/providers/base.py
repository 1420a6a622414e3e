"""The one small interface every provider implements.

A provider takes a :class:`GenerationRequest` plus a :class:`CallContext` (HTTP client,
credentials, hooks) and returns a :class:`GenerationResult`: text, bytes or a byte stream,
plus usage. It raises only :class:`runner.errors.ProviderError` subclasses. Providers know
nothing of the engine, the run log or storage.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    import httpx

MediaType = Literal["image", "video", "audio", "text", "document"]
MEDIA_TYPES: tuple[MediaType, ...] = ("image", "video", "audio", "text", "document")


@dataclass(frozen=True)
class InputAsset:
    """An earlier step's output handed to this request (e.g. images for a video).

    ``path`` is a local file path when the artifact is on local disk, else None;
    ``url`` is its storage URI or public URL; ``text`` is set for text outputs.
    ``uri`` is where the store keeps it (``s3://...`` or ``file://...``).
    """

    media_type: MediaType
    mime: str
    path: str | None = None
    url: str | None = None
    text: str | None = None
    step: str | None = None
    #: Content digest: identifies the input across runs (its path and URL name the run).
    sha256: str | None = None
    uri: str | None = None

    def read_bytes(self) -> bytes:
        if self.path is None:
            raise FileNotFoundError(f"input from step {self.step!r} has no local file")
        with open(self.path, "rb") as fh:
            return fh.read()


@dataclass(frozen=True)
class GenerationRequest:
    media_type: MediaType
    model: str
    prompt: str
    params: Mapping[str, Any] = field(default_factory=dict)
    inputs: Sequence[InputAsset] = ()
    timeout: float = 120.0
    #: Vendor task id of a long-running job accepted earlier (resume instead of paying twice).
    resume_task_id: str | None = None
    #: Text requests only: answer with JSON that fits this JSON Schema (a judge's score).
    #: Adapters ask for it the vendor's way (OpenAI's json_schema response format, a
    #: forced Anthropic tool, Gemini's responseSchema); callers still parse strictly.
    response_schema: Mapping[str, Any] | None = None


def _no_task_hook(task_id: str) -> None:
    return None


def _never() -> bool:
    return False


async def _real_sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)


@dataclass
class CallContext:
    """What a provider needs to make one call; built by the engine per attempt."""

    http: httpx.AsyncClient | None = None
    api_key: str | None = field(default=None, repr=False)
    base_url: str | None = None
    account: str | None = None
    #: Account-level extras from accounts.yaml (api_version, deployment map, voice, ...).
    options: Mapping[str, Any] = field(default_factory=dict)
    #: Called as soon as a vendor accepts a long-running job, so it can be resumed.
    on_task_created: Callable[[str], None] = _no_task_hook
    #: Poll interval for long-running jobs; tests set it near zero.
    poll_interval: float = 2.0
    sleep: Callable[[float], Awaitable[None]] = _real_sleep
    #: True when the call is being cancelled because a person cancelled its job (not a
    #: shutdown, after which a resumed run polls the task instead of paying again): a
    #: long-running task is then cancelled at the vendor where the vendor allows it.
    cancel_requested: Callable[[], bool] = _never


#: The largest count of each kind one call can sanely report. A vendor value past its cap
#: (or negative, fractional, non-finite, a string, a bool) is not a count we price or log:
#: it is dropped, and :attr:`Usage.dropped` says why. The caps are far beyond any real
#: call (the longest context windows hold a few million tokens) and far below what breaks
#: a 64-bit column or a float sum.
USAGE_CAPS: dict[str, float] = {
    "input_tokens": 1_000_000_000,
    "output_tokens": 1_000_000_000,
    "images": 10_000,
    "characters": 1_000_000_000,
    "seconds": 86_400.0,
}
_INTEGRAL = ("input_tokens", "output_tokens", "images", "characters")
_COUNT_CAP = USAGE_CAPS["input_tokens"]
_IMAGES_CAP = USAGE_CAPS["images"]
_SECONDS_CAP = USAGE_CAPS["seconds"]


@dataclass
class Usage:
    """What a call consumed, as the vendor reported it, checked where it is made.

    Every adapter builds one from the vendor's answer, raw values and all, so this is
    the one place hostile numbers stop: each field ends up a bounded non-negative
    number (an int for counts) or None, and ``dropped`` lists what was refused.
    """

    input_tokens: int | None = None
    output_tokens: int | None = None
    images: int | None = None
    characters: int | None = None
    seconds: float | None = None
    #: "field: why" for each vendor value that was not a sane count (set on creation).
    dropped: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        if (
            _sane(self.input_tokens, _COUNT_CAP)
            and _sane(self.output_tokens, _COUNT_CAP)
            and _sane(self.images, _IMAGES_CAP)
            and _sane(self.characters, _COUNT_CAP)
            and (
                self.seconds is None
                or (type(self.seconds) in (int, float) and 0 <= self.seconds <= _SECONDS_CAP)
            )
        ):
            return  # the fast path: what every sane vendor sends
        problems: list[str] = []
        for name in _INTEGRAL:
            value = getattr(self, name)
            if value is None or (type(value) is int and 0 <= value <= USAGE_CAPS[name]):
                continue  # the fast path: what every sane vendor sends
            checked, why = _checked_count(value, USAGE_CAPS[name], integral=True)
            setattr(self, name, checked)
            if why:
                problems.append(f"{name} {_shown(value)} dropped: {why}")
        seconds = self.seconds
        if seconds is not None and not (
            type(seconds) in (int, float) and 0 <= seconds <= USAGE_CAPS["seconds"]
        ):
            checked, why = _checked_count(seconds, USAGE_CAPS["seconds"], integral=False)
            self.seconds = checked
            if why:
                problems.append(f"seconds {_shown(seconds)} dropped: {why}")
        if problems:
            self.dropped = (*self.dropped, *problems)

    def as_dict(self) -> dict[str, float | int]:
        return {k: v for k, v in self.__dict__.items() if v is not None and k != "dropped"}


def _sane(value: object, cap: float) -> bool:
    return value is None or (type(value) is int and 0 <= value <= cap)


def _checked_count(value: object, cap: float, *, integral: bool) -> tuple[Any, str | None]:
    """(the value as a sane count, or None; why it was refused, or None)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        kind = "a string" if isinstance(value, str) else f"a {type(value).__name__}"
        return None, f"{kind}, not a number"
    if isinstance(value, float) and not math.isfinite(value):
        return None, "not a finite number"
    if value < 0:
        return None, "negative"
    if value > cap:
        return None, f"above the cap of {cap:,.0f}"
    if integral:
        if isinstance(value, float) and not value.is_integer():
            return None, "not a whole number"
        return int(value), None
    return float(value), None


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:37]}..."


@dataclass
class GenerationResult:
    """Exactly one of ``text``, ``data`` or ``stream`` is set."""

    media_type: MediaType
    mime: str | None = None
    text: str | None = None
    data: bytes | None = None
    stream: AsyncIterator[bytes] | None = None
    usage: Usage = field(default_factory=Usage)
    #: Vendor's id for the generation (task id for long-running jobs).
    task_id: str | None = None
    #: Extra facts worth keeping (revised prompt, finish reason, seed, ...).
    metadata: dict[str, Any] = field(default_factory=dict)
    #: HTTP status of the final successful response, when there was one.
    http_status: int | None = None
    #: Further outputs of the same call (an image request with ``n`` > 1): each becomes
    #: an artifact of the job too. Usage and cost stay on this result, which covers all.
    more: tuple[GenerationResult, ...] = ()


@runtime_checkable
class Provider(Protocol):
    """A generator of media. Registered by ``name`` in :mod:`runner.providers.registry`."""

    name: ClassVar[str]
    media_types: ClassVar[frozenset[str]]
    #: False for local generators and keyless self-hosted servers.
    needs_key: ClassVar[bool]
    #: False for local generators (no HTTP client is passed).
    uses_http: ClassVar[bool]
    default_base_url: ClassVar[str | None]

    async def generate(self, request: GenerationRequest, ctx: CallContext) -> GenerationResult: ...


@runtime_checkable
class Transcriber(Protocol):
    """A provider with a speech-to-text model, as well as :class:`Provider`.

    ``request.inputs`` holds the audio (a local file); the result is text. Usage carries
    the tokens or seconds the vendor bills by.
    """

    async def transcribe(
        self, request: GenerationRequest, ctx: CallContext
    ) -> GenerationResult: ...
