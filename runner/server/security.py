"""Who may talk to the server, and how: Jupyter-server-style protections.

- **Host** must name this server (loopback names, the bound address, ``--allow-host``
  names, or the IP the request arrived on): a page whose DNS name was rebound to 127.0.0.1
  sends its own name and is refused.
- **Token** on every route but ``/healthz``: ``Authorization: Bearer TOKEN``, or the login
  cookie a browser gets by opening ``/?token=TOKEN`` once (HttpOnly, SameSite=Strict; it
  holds a value derived from the token, not the token). Compared in constant time.
- **Writes** (POST, PUT, PATCH, DELETE) must be ``application/json``: a form or
  ``text/plain`` post from another site (a "simple" request, sent without asking) is
  refused, and one from another Origin is refused outright.
- **CORS** only for the origins given with ``--cors-origin``; none by default.
"""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit

from aiohttp import web

from runner.server.errors import Handler, error_response
from runner.server.state import SETTINGS

SESSION_COOKIE = "mediamix_session"
#: Paths anyone may fetch: a liveness probe, and nothing else.
PUBLIC_PATHS = frozenset({"/healthz"})
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

_COMMON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def _host_name(header: str) -> str:
    """The name in a Host header, without the port ("[::1]:8765" -> "::1")."""
    try:
        return (urlsplit(f"//{header}").hostname or "").lower()
    except ValueError:
        return ""


def _arrived_on(request: web.Request) -> str | None:
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    return str(sockname[0]).lower() if sockname else None


def host_allowed(request: web.Request) -> bool:
    header = request.headers.get("Host")
    if not header:
        return False
    name = _host_name(header)
    if name in request.app[SETTINGS].allowed_host_names():
        return True
    # An IP literal the request actually arrived on cannot be a rebound DNS name.
    return name != "" and name == _arrived_on(request)


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def authenticated(request: web.Request) -> bool:
    settings = request.app[SETTINGS]
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return _same(value.strip(), settings.token)
    cookie = request.cookies.get(SESSION_COOKIE)
    return cookie is not None and _same(cookie, settings.session_cookie_value)


def _own_origin(request: web.Request) -> str:
    return f"{request.scheme}://{request.headers.get('Host', '')}".lower()


def _cors_headers(origin: str) -> dict[str, str]:
    return {
        "Access-Control-Allow-Origin": origin,
        "Vary": "Origin",
        "Access-Control-Allow-Headers": "Authorization, Content-Type",
        "Access-Control-Allow-Methods": "GET, POST, PUT, OPTIONS",
        "Access-Control-Max-Age": "600",
    }


@web.middleware
async def security_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    response = await _guarded(request, handler)
    for name, value in _COMMON_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


async def _guarded(request: web.Request, handler: Handler) -> web.StreamResponse:
    settings = request.app[SETTINGS]
    if not host_allowed(request):
        shown = request.headers.get("Host", "")[:100]
        return error_response(
            403,
            f"Host {shown!r} is not a name this server answers to; start it with "
            "--allow-host NAME to accept that name",
        )
    origin = request.headers.get("Origin")
    cors = origin is not None and origin.lower() in {o.lower() for o in settings.cors_origins}
    if request.method == "OPTIONS":
        if cors:
            assert origin is not None
            return web.Response(status=204, headers=_cors_headers(origin))
        return error_response(403, "cross-origin requests are not allowed (no --cors-origin)")
    if (
        request.method in WRITE_METHODS
        and origin is not None
        and origin.lower() != _own_origin(request)
        and not cors
    ):
        return error_response(403, f"cross-origin request from {origin[:100]!r} refused")
    if request.path not in PUBLIC_PATHS:
        login = _login(request)
        if login is not None:
            return login
        if not authenticated(request):
            return _unauthenticated(request)
    if request.method in WRITE_METHODS and request.content_type != "application/json":
        return error_response(
            415,
            "send the request body as JSON with 'Content-Type: application/json' "
            f"(got {request.content_type or 'none'!r})",
        )
    response = await handler(request)
    if cors:
        assert origin is not None
        for name, value in _cors_headers(origin).items():
            response.headers[name] = value
    return response


def _login(request: web.Request) -> web.StreamResponse | None:
    """``GET /?token=...``: a valid token gets the login cookie and a redirect to the
    same page without the token (so it stays out of history and Referer headers)."""
    token = request.query.get("token")
    if token is None or request.method != "GET" or request.path.startswith("/api/"):
        return None
    settings = request.app[SETTINGS]
    if not _same(token, settings.token):
        return _unauthenticated(request, wrong=True)
    query = {k: v for k, v in request.query.items() if k != "token"}
    target = request.rel_url.with_query(query)
    response = web.Response(status=303, headers={"Location": str(target)})
    response.set_cookie(
        SESSION_COOKIE,
        settings.session_cookie_value,
        httponly=True,
        samesite="Strict",
        path="/",
    )
    return response


def _unauthenticated(request: web.Request, *, wrong: bool = False) -> web.StreamResponse:
    if request.path.startswith("/api/") or request.path == "/metrics":
        return error_response(
            401,
            "a valid token is required: send 'Authorization: Bearer TOKEN' (the token "
            "mediamix serve printed, or MEDIAMIX_API_TOKEN)",
            headers={"WWW-Authenticate": 'Bearer realm="mediamix"'},
        )
    from runner.server.dashboard import login_page

    return login_page(wrong=wrong)
