"""Vendor modules of the fake provider server: one per vendor wire format.

One server speaks every vendor; each vendor owns a path prefix (``PREFIXES``), and an
account's ``base_url`` in tests is ``server.url + BASE_PATHS[vendor]``.

A vendor module ``vendors/<name>.py`` provides:

``register(app: web.Application, state: FakeState) -> None``
    Adds the vendor's routes, all under its prefix (``/openai/v1/chat/completions``).
``error_body(status: int, message: str, *, kind: str) -> tuple[dict, dict[str, str]]``
    The vendor's error JSON and any extra response headers. ``kind`` is one of
    ``ERROR_KINDS``. The middleware uses it for auth failures, rate limits and injected
    faults, so a 429 under ``/anthropic`` looks like Anthropic's.
``api_key(request: web.Request) -> str | None`` (optional)
    The key the request carries under the vendor's auth scheme, None when none was sent.
    When present, the middleware rejects a missing key (unless ``KEY_REQUIRED = False``)
    and any key starting with ``bad-`` with 401, and applies the per-key rate limit.
    Without it the middleware checks no auth and rate-limits under the key "".
``HANDLES_CONTENT_POLICY: bool`` (optional, default False) and
``CONTENT_POLICY_STATUS: int`` (optional, default 400)
    An injected ``content_policy`` fault is answered by the middleware with
    ``error_body(CONTENT_POLICY_STATUS, ..., kind="content_policy")``, unless the module sets
    ``HANDLES_CONTENT_POLICY = True``: then the handler runs and sees the fault in
    ``wire.fault_of(request)`` (for vendors that block with a 200 and a reason).

Faults ``blank_image``, ``silence``, ``empty_data`` and ``task_failed`` always reach the
handler through ``wire.fault_of(request)``: what they look like is the vendor's business.

Handlers use :mod:`tests.fakeprovider.wire` for faults, errors, bodies and download URLs,
and :mod:`tests.fakeprovider.media` for real media bytes.
"""

from __future__ import annotations

import importlib
from types import ModuleType

#: Module names, in registration order. Modules not written yet are skipped.
VENDORS: list[str] = [
    "openai",
    "azure",
    "openai_compatible",
    "anthropic",
    "google",
    "cohere",
    "elevenlabs",
    "stability",
    "runway",
]

#: Vendor module -> the first path segment of all its routes.
PREFIXES: dict[str, str] = {
    "openai": "/openai",
    "azure": "/azure",
    "openai_compatible": "/compat",
    "anthropic": "/anthropic",
    "google": "/google",
    "cohere": "/cohere",
    "elevenlabs": "/elevenlabs",
    "stability": "/stability",
    "runway": "/runway",
}

#: Vendor module -> the path an account's base_url points at (the vendor's default base).
BASE_PATHS: dict[str, str] = {
    "openai": "/openai/v1",
    "azure": "/azure",
    "openai_compatible": "/compat/v1",
    "anthropic": "/anthropic",
    "google": "/google/v1beta",
    "cohere": "/cohere",
    "elevenlabs": "/elevenlabs",
    "stability": "/stability",
    "runway": "/runway",
}

ERROR_KINDS = (
    "auth",
    "invalid_request",
    "not_found",
    "rate_limit",
    "quota",
    "server",
    "unavailable",
    "overloaded",
    "content_policy",
)


def load_vendors() -> dict[str, ModuleType]:
    """Import every vendor module that exists; a broken one fails loudly."""
    loaded: dict[str, ModuleType] = {}
    for name in VENDORS:
        qualified = f"{__name__}.{name}"
        try:
            loaded[name] = importlib.import_module(qualified)
        except ModuleNotFoundError as exc:
            if exc.name != qualified:
                raise
    return loaded


def vendor_for_path(path: str) -> str | None:
    """The vendor module whose prefix ``path`` starts with."""
    segment = "/" + path.lstrip("/").split("/", 1)[0]
    for name, prefix in PREFIXES.items():
        if prefix == segment:
            return name
    return None
