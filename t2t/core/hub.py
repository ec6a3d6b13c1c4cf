"""Can this process reach the Hugging Face Hub? A fast answer before anything waits on the network.

Without internet and without `HF_HUB_OFFLINE=1`, huggingface_hub retries a download for about a
minute before it fails with a long traceback. `hub_reachable` answers in at most `timeout` seconds:

- `HF_HUB_OFFLINE` set to a true value: False, with no network call at all;
- otherwise one TCP connection to the host of `huggingface_hub.constants.ENDPOINT` (an HTTPS HEAD
  request instead when a proxy is configured for it, since then only the proxy is dialled directly).

The network answer is cached for the life of the process; the offline switch is read on every call.
"""

from __future__ import annotations

import functools
import os
import socket
import urllib.request
from urllib.parse import urlsplit

FALSE_VALUES = ("", "0", "false", "no", "off")


def hub_offline() -> bool:
    """True when `HF_HUB_OFFLINE` is set to anything but an empty, 0, false, no or off value."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() not in FALSE_VALUES


def hub_endpoint() -> str:
    """The Hub's base URL (`HF_ENDPOINT`, default https://huggingface.co)."""
    from huggingface_hub import constants

    return constants.ENDPOINT


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hub can be reached now: False when offline, else a cached connection probe."""
    if hub_offline():
        return False
    return _probe(hub_endpoint(), timeout)


@functools.cache
def _probe(endpoint: str, timeout: float) -> bool:
    """One connection attempt to `endpoint`, through a proxy when one is configured for it."""
    url = urlsplit(endpoint)
    host = url.hostname or ""
    port = url.port or (443 if url.scheme == "https" else 80)
    if _uses_proxy(url.scheme, host):
        return _head_ok(endpoint, timeout)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError:
        return False
    return True


def _uses_proxy(scheme: str, host: str) -> bool:
    """Whether the environment routes `scheme://host` through a proxy (HTTPS_PROXY, NO_PROXY, ...)."""
    proxies = urllib.request.getproxies()
    return (scheme in proxies or "all" in proxies) and not urllib.request.proxy_bypass(host)


def _head_ok(url: str, timeout: float) -> bool:
    """An HTTPS HEAD request that honours the proxy settings; any HTTP answer means reachable."""
    import httpx

    try:
        httpx.head(url, timeout=timeout, follow_redirects=False)
    except httpx.HTTPError:
        return False
    return True
