"""mediamix's exception tree: the only exceptions that cross a module boundary.

Foreign exceptions (httpx, duckdb, fsspec, jsonschema, yaml) are wrapped where they
enter, with ``raise ... from exc``. The CLI turns any ``MediamixError`` into one clear
line (exit 1, or 2 for configuration/usage); anything else is a bug (exit 3).

    MediamixError
    ├── ConfigError            bad YAML / schema / cross-file problems (carries Diagnostics)
    ├── UsageError             bad command-line input
    ├── TemplateError          a prompt/path template failed to render (names the step)
    ├── ProviderError          a provider call failed; ``kind`` drives fallback decisions
    │   ├── TransientError         5xx, timeouts, resets, malformed bodies   -> retry
    │   ├── RateLimitedError       429/529, with ``retry_after``             -> wait or next account
    │   ├── PermanentError         invalid request, content policy, no model -> next candidate
    │   ├── CredentialsError       bad key: this account is unusable          -> next account
    │   └── UnavailableError       no key set / account inactive              -> skip candidate
    ├── ArtifactInvalid        the output failed validation: a random defect (blank image,
    │                          silence, truncation) -> retry; a deterministic one (wrong
    │                          format or dimensions for what was asked) -> next candidate
    ├── JudgeRejected          the judge scored it below min_score -> next candidate
    │                          (the same one again only with retry_on_reject)
    ├── JudgeFailed            the judge could not answer and on_judge_error is reject
    │                          -> next candidate
    ├── StorageError           writing an artifact failed
    ├── RunLogError            the DuckDB run log could not be read or written
    ├── BudgetExceeded         dispatching would exceed --max-cost
    ├── DispatchStopped        no new paid call: stopping (a signal) or nowhere to record it
    └── JobFailed              every candidate of a step failed (carries the last cause)
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import ClassVar, Literal
from urllib.parse import quote, quote_plus

ErrorKind = Literal[
    "transient", "rate_limited", "permanent", "credentials", "unavailable", "invalid_artifact"
]


class MediamixError(Exception):
    """Base of every error mediamix raises on purpose."""

    exit_code: ClassVar[int] = 1


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One problem in one file, pointing at the spot: ``file:line:col: path: message``."""

    file: str
    line: int
    column: int
    path: str
    message: str
    #: "error" fails validation; "warning" is reported but does not.
    severity: str = "error"

    def __str__(self) -> str:
        where = f": {self.path}" if self.path else ""
        tag = "warning: " if self.severity == "warning" else ""
        return f"{self.file}:{self.line}:{self.column}{where}: {tag}{self.message}"

    def as_dict(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "path": self.path,
            "message": self.message,
            "severity": self.severity,
        }


class ConfigError(MediamixError):
    """One or more configuration problems, all reported at once."""

    exit_code = 2

    def __init__(self, diagnostics: Iterable[Diagnostic]) -> None:
        self.diagnostics = sorted(diagnostics)
        super().__init__("\n".join(str(d) for d in self.diagnostics))


class UsageError(MediamixError):
    exit_code = 2


class TemplateError(MediamixError):
    def __init__(self, step: str, message: str) -> None:
        self.step = step
        super().__init__(f"step {step!r}: {message}")


class ProviderError(MediamixError):
    """A provider call failed. ``kind`` says what the engine should do about it."""

    kind: ClassVar[ErrorKind] = "permanent"

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        retry_after: float | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status
        self.retry_after = retry_after
        self.code = code


class TransientError(ProviderError):
    kind = "transient"


class RateLimitedError(ProviderError):
    kind = "rate_limited"


class PermanentError(ProviderError):
    kind = "permanent"


class CredentialsError(ProviderError):
    kind = "credentials"


class UnavailableError(ProviderError):
    """The candidate cannot run here. ``missing_env`` names the variables whose keys are
    not set; ``hint`` says what would make it available ("set OPENAI_API_KEY")."""

    kind = "unavailable"

    def __init__(
        self,
        message: str,
        *,
        missing_env: tuple[str, ...] = (),
        hint: str | None = None,
        http_status: int | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, http_status=http_status, code=code)
        self.missing_env = missing_env
        self.hint = hint


class ArtifactInvalid(MediamixError):
    """The provider answered, but what it produced is not a usable artifact.

    ``deterministic`` says whether asking the same candidate again would give the same
    defect: a wrong format or the wrong dimensions for what was asked will not change,
    so the engine moves to the next candidate after one attempt instead of paying for
    the same wrong answer again. Random defects (a blank image, silence, a truncated
    file, text missing a phrase) may pass on the next try and keep their retries.
    """

    kind: ClassVar[ErrorKind] = "invalid_artifact"

    def __init__(self, message: str, *, deterministic: bool = False) -> None:
        super().__init__(message)
        self.deterministic = deterministic


class JudgeRejected(MediamixError):
    """The artifact is real, but the judge scored it below the step's ``min_score``."""

    kind: ClassVar[str] = "judge_rejected"

    def __init__(self, message: str, *, score: float, reason: str) -> None:
        super().__init__(message)
        self.score = score
        self.reason = reason


class JudgeFailed(MediamixError):
    """The judge could not give a score (down, or an answer that is not a score)."""

    kind: ClassVar[str] = "judge_failed"


class StorageError(MediamixError):
    kind: ClassVar[str] = "storage"


class RunLogError(MediamixError):
    pass


class BudgetExceeded(MediamixError):
    pass


class DispatchStopped(MediamixError):
    """No new paid call may start: the run is stopping (SIGTERM, Ctrl-C) or what a call
    buys could not be kept (the run log's or the outputs' disk is full). ``kind`` says
    which: "interrupted", "runlog" or "storage"."""

    def __init__(self, kind: str, message: str) -> None:
        self.kind = kind
        super().__init__(message)


class JobFailed(MediamixError):
    """Every candidate of a job failed. ``kind`` is the last failure's class (what a
    "failures by error class" report should count), e.g. "permanent" or "unavailable"."""

    def __init__(self, step: str, message: str, *, kind: str = "exhausted") -> None:
        self.step = step
        self.kind = kind
        super().__init__(f"step {step!r} failed: {message}")


class SecretRedactor:
    """Remembers every secret value read at run time and blanks it out of text.

    Keys are read from the environment only at call time; each one is registered here
    so that nothing written (run log, events, errors, progress) can carry it.
    """

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._ordered: tuple[str, ...] = ()
        #: The same, as UTF-8 bytes (surrogates passed through: such bytes are never in
        #: valid UTF-8, so they match nothing :meth:`redact_json` is given).
        self._ordered_bytes: tuple[bytes, ...] = ()
        #: Values given to add(), as given.
        self._added: set[str] = set()
        #: Whether :meth:`redact_json` may blank secrets out of encoded JSON text.
        self._json_safe = True

    def add(self, secret: str | None) -> None:
        """Remember ``secret`` in every form a request may carry it, and so a vendor may
        echo it: as read, trimmed (keys are sent trimmed) and percent-encoded (a key with
        ``+`` or ``/`` in a query string or form). No adapter sends a key base64-encoded
        (no Basic auth), so that form is not needed."""
        if not secret or secret in self._added:
            return  # every request registers its key: the second time costs a set lookup
        self._added.add(secret)
        trimmed = secret.strip()
        forms = {secret, trimmed, quote(trimmed, safe=""), quote_plus(trimmed)}
        # Very short values would blank out ordinary words; real keys are long.
        new = {form for form in forms if len(form) >= 6} - self._secrets
        if new:
            self._secrets |= new
            # Longest first: a form that contains another is blanked whole, not in part.
            self._ordered = tuple(sorted(self._secrets, key=len, reverse=True))
            self._ordered_bytes = tuple(
                form.encode("utf-8", "surrogatepass") for form in self._ordered
            )
            self._json_safe = self._json_safe and all(map(_json_safe, new))

    def redact(self, text: str) -> str:
        for secret in self._ordered:
            if secret in text:
                text = text.replace(secret, "[REDACTED]")
        return text

    def redact_json(self, encoded: bytes) -> bytes | None:
        """``encoded`` (compact JSON in UTF-8, non-ASCII unescaped) with every secret inside
        its strings blanked, as if each string had been redacted before encoding; None when
        a secret's characters make that unsafe (the caller redacts string by string).

        Matching UTF-8 bytes is matching text: a valid UTF-8 sequence can only match at a
        character boundary."""
        if not self._json_safe:
            return None
        for secret in self._ordered_bytes:
            if secret in encoded:
                encoded = encoded.replace(secret, b"[REDACTED]")
        return encoded


#: Characters JSON text can hold outside its strings (compact: no spaces).
_OUTSIDE_STRINGS = frozenset("0123456789+-.eE,:[]{}truefalsn")


def _json_safe(secret: str) -> bool:
    """Whether every match of ``secret`` in encoded JSON lies inside one string, where it
    is the secret itself: it has no quote, backslash or control character (which JSON
    escapes, and a quote would let a match span two strings), and it has a character
    that appears only inside strings (so it cannot match a number or a literal)."""
    if any(c == '"' or c == "\\" or c < " " for c in secret):
        return False
    return not set(secret) <= _OUTSIDE_STRINGS


#: Process-wide redactor: providers and accounts register keys, writers redact.
REDACTOR = SecretRedactor()


def redact(text: str) -> str:
    return REDACTOR.redact(text)
