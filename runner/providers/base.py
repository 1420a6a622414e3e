"""The one small interface every provider implements.

A provider takes a :class:`GenerationRequest` plus a :class:`CallContext` (HTTP client,
credentials, hooks) and returns a :class:`GenerationResult`: text, bytes or a byte stream,
plus usage. It raises only :class:`runner.errors.ProviderError` subclasses. Providers know
nothing of the engine, the run log or storage.
"""

from __future__ import annotations

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


@dataclass
class Usage:
    input_tokens: int | None = None
    output_tokens: int | None = None
    images: int | None = None
    characters: int | None = None
    seconds: float | None = None

    def as_dict(self) -> dict[str, float | int]:
        return {k: v for k, v in self.__dict__.items() if v is not None}


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
