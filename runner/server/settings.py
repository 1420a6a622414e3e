"""How ``mediamix serve`` is set up, and the checks made before it listens.

Safe by default, the way Jupyter's server is: a token on every request (generated at start
unless MEDIAMIX_API_TOKEN is set), loopback only unless a token was configured, Host
checked against the names the server answers to.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import secrets
from dataclasses import dataclass, field

from runner.errors import UsageError

TOKEN_ENV = "MEDIAMIX_API_TOKEN"
#: Shorter tokens can be guessed; a generated one has 43 characters (256 bits).
MIN_TOKEN_CHARS = 16
LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def is_loopback(host: str) -> bool:
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ServeSettings:
    host: str = "127.0.0.1"
    port: int = 8765
    project: str | None = None
    token: str = field(default="", repr=False)
    #: True when the token came from MEDIAMIX_API_TOKEN (then it is never printed).
    token_from_env: bool = False
    #: Extra names the Host header may carry (besides loopback names and the bound address).
    allow_hosts: tuple[str, ...] = ()
    #: Origins whose pages may call the API with a token (CORS). None by default.
    cors_origins: tuple[str, ...] = ()
    #: Jobs running at once (a pipeline run counts as one).
    concurrency: int = 8
    max_body_bytes: int = 1 << 20
    #: A request's headers must arrive within this time, and its body within body_timeout_s.
    header_timeout_s: float = 15.0
    body_timeout_s: float = 30.0
    #: Event-stream clients at once.
    max_event_clients: int = 100

    @property
    def session_cookie_value(self) -> str:
        """What the login cookie holds: derived from the token, not the token itself."""
        return hmac.new(self.token.encode(), b"mediamix-session-v1", hashlib.sha256).hexdigest()

    def allowed_host_names(self) -> frozenset[str]:
        names = {*LOOPBACK_NAMES, *(h.lower().strip("[]") for h in self.allow_hosts)}
        if self.host not in ("0.0.0.0", "::", ""):
            names.add(self.host.lower().strip("[]"))
        return frozenset(names)

    def base_url(self, port: int | None = None) -> str:
        host = self.host if self.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{port or self.port}"


def resolve_token(env: dict[str, str] | os._Environ[str] | None = None) -> tuple[str, bool]:
    """(token, from_env): MEDIAMIX_API_TOKEN, or a new random one."""
    environment = os.environ if env is None else env
    configured = environment.get(TOKEN_ENV, "").strip()
    if configured:
        if len(configured) < MIN_TOKEN_CHARS:
            raise UsageError(
                f"{TOKEN_ENV} is shorter than {MIN_TOKEN_CHARS} characters and could be "
                f'guessed; use e.g. python -c "import secrets; print(secrets.token_urlsafe())"'
            )
        return configured, True
    return secrets.token_urlsafe(32), False


def check_bind(host: str, token_from_env: bool) -> None:
    """Refuse to listen beyond loopback unless the token is one the operator chose."""
    if not is_loopback(host) and not token_from_env:
        raise UsageError(
            f"refusing to listen on {host}: beyond this machine, set {TOKEN_ENV} to a secret "
            "token first (clients send it as 'Authorization: Bearer TOKEN')"
        )
