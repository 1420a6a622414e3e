"""Which proxy, if any, a request goes through: HTTP(S)_PROXY / ALL_PROXY / NO_PROXY.

Read once per client and decided once per host. aiohttp's own ``trust_env`` would look
them (and ~/.netrc) up in a worker thread on every request.
"""

from __future__ import annotations

import base64
import urllib.request
from dataclasses import dataclass

import yarl


@dataclass(frozen=True)
class Proxy:
    url: yarl.URL
    #: ``Proxy-Authorization`` when the proxy's address carries credentials.
    headers: dict[str, str]


class EnvironmentProxies:
    """The proxies the environment names, decided per (scheme, host)."""

    def __init__(self) -> None:
        self._proxies = urllib.request.getproxies_environment()
        self._decided: dict[tuple[str, str], Proxy | None] = {}

    def for_url(self, scheme: str, host: str) -> Proxy | None:
        if not self._proxies:
            return None
        key = (scheme, host)
        if key not in self._decided:
            address = self._proxies.get(scheme) or self._proxies.get("all")
            if not address or urllib.request.proxy_bypass(host):
                self._decided[key] = None
            else:
                url = yarl.URL(address if "://" in address else f"http://{address}")
                headers = {}
                if url.user:
                    pair = f"{url.user}:{url.password or ''}".encode()
                    headers["Proxy-Authorization"] = "Basic " + base64.b64encode(pair).decode()
                self._decided[key] = Proxy(url.with_user(None), headers)
        return self._decided[key]
