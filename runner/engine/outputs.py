"""What a finished step offers later steps' templates: ``{{ steps.cover.url }}``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ArtifactOutput:
    """One stored artifact of a step (a for_each step or an ensemble may have several)."""

    media_type: str
    mime: str
    uri: str
    path: str | None
    public_url: str | None
    size: int
    sha256: str
    provider: str
    model: str
    text: str | None = None
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None
    pages: int | None = None
    #: The judge's score and reason, when a judge scored it.
    score: float | None = None
    score_reason: str | None = None

    @property
    def url(self) -> str:
        """The best address for a person: the public URL when there is one."""
        return self.public_url or self.uri


@dataclass
class StepOutput:
    """A step's outputs. Single-artifact fields read the first artifact; lists read all."""

    step_id: str
    artifacts: list[ArtifactOutput] = field(default_factory=list)

    def _first(self, name: str) -> Any:
        return getattr(self.artifacts[0], name) if self.artifacts else None

    @property
    def items(self) -> list[ArtifactOutput]:
        return self.artifacts

    @property
    def text(self) -> str:
        return "\n\n".join(a.text for a in self.artifacts if a.text)

    @property
    def texts(self) -> list[str]:
        return [a.text or "" for a in self.artifacts]

    @property
    def urls(self) -> list[str]:
        return [a.url for a in self.artifacts]

    @property
    def paths(self) -> list[str]:
        return [a.path or "" for a in self.artifacts]

    url = property(lambda self: self._first("url"))
    uri = property(lambda self: self._first("uri"))
    path = property(lambda self: self._first("path"))
    public_url = property(lambda self: self._first("public_url"))
    mime = property(lambda self: self._first("mime"))
    media_type = property(lambda self: self._first("media_type"))
    size = property(lambda self: self._first("size"))
    sha256 = property(lambda self: self._first("sha256"))
    width = property(lambda self: self._first("width"))
    height = property(lambda self: self._first("height"))
    duration_s = property(lambda self: self._first("duration_s"))
    pages = property(lambda self: self._first("pages"))
    provider = property(lambda self: self._first("provider"))
    model = property(lambda self: self._first("model"))

    def __str__(self) -> str:
        # ``{{ steps.x }}`` alone renders the text (or the URL for media).
        return self.text or (self.url or "")
