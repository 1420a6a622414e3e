"""The dashboard: static files shipped in the wheel (no build step, no CDN), plus the login
page a browser without the cookie gets.

``GET /`` is the single page (views are ``#/jobs``, ``#/jobs/ID``, ``#/accounts`` ...);
its scripts are plain ES modules under ``/static/`` that call the JSON API with the login
cookie and follow ``/api/media/events``.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

STATIC_DIR = Path(__file__).resolve().parent / "static"
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
_LOGIN_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"

_LOGIN = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>mediamix: log in</title>
<style>
body{{font:15px/1.5 system-ui,sans-serif;max-width:34rem;margin:4rem auto;padding:0 1rem}}
h1{{font-size:1.4rem}}input{{font:inherit;padding:.4rem;width:100%;box-sizing:border-box}}
button{{font:inherit;margin-top:.6rem;padding:.4rem 1rem}}.wrong{{color:#b91c1c}}
code{{background:#f3f4f6;padding:0 .2rem}}
</style></head><body>
<h1>mediamix</h1>
{message}
<p>Open the login URL that <code>mediamix serve</code> printed when it started, or paste
its token (or the value of <code>MEDIAMIX_API_TOKEN</code>) here:</p>
<form method="get" action="/">
<label for="token">Token</label>
<input id="token" name="token" type="password" autocomplete="off" required autofocus>
<button type="submit">Log in</button>
</form>
</body></html>
"""


def login_page(*, wrong: bool = False) -> web.Response:
    message = '<p class="wrong" role="alert">That token is not right.</p>' if wrong else ""
    return web.Response(
        status=401,
        text=_LOGIN.format(message=message),
        content_type="text/html",
        headers={"Content-Security-Policy": _LOGIN_CSP, "Cache-Control": "no-store"},
    )


async def index(request: web.Request) -> web.Response:
    html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    return web.Response(
        text=html,
        content_type="text/html",
        headers={"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-store"},
    )


def routes() -> list[web.AbstractRouteDef]:
    return [
        web.get("/", index),
        web.static("/static", STATIC_DIR, follow_symlinks=False, show_index=False),
    ]
