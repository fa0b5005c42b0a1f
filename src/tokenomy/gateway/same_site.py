"""A gateway with no keys trusts whoever reaches it; on loopback that must mean programs
on this machine, not web pages in its browser.

A page on any site can POST to ``http://127.0.0.1:4000`` (a ``text/plain`` body needs no
CORS preflight) and spend the operator's provider credit, and a page whose own DNS name
is re-pointed at 127.0.0.1 (DNS rebinding) can read the analytics API as same-origin.
So, without keys: a request that carries another site's ``Origin`` is refused, and one
that arrived on a loopback address must name the server by a local name or an IP
(a rebinding page can only use its own DNS name). SDKs and curl send neither problem.
With keys, the key is the guard: a page has no way to learn it.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from urllib.parse import urlsplit

_DEFAULT_PORTS = {"http": "80", "https": "443"}


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def other_site(origin: str, host: str) -> bool:
    """Whether a browser's ``Origin`` names another site than the ``Host`` it asked."""
    parts = urlsplit(origin.strip())
    if not parts.hostname:  # "null": a sandboxed frame or a local file
        return True
    port = str(parts.port) if parts.port else _DEFAULT_PORTS.get(parts.scheme, "")
    name, _, given_port = _split_host(host)
    return parts.hostname.lower() != name or port != (given_port or port)


def local_name(host: str) -> bool:
    """Whether a ``Host`` header is ``localhost`` (or ``*.localhost``) or an IP address:
    not a DNS name someone else controls."""
    name, _, _ = _split_host(host)
    if not name or name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _split_host(host: str) -> tuple[str, str, str]:
    host = host.strip().lower()
    if host.startswith("["):  # [::1]:4000
        name, _, rest = host[1:].partition("]")
        return name, ":", rest.removeprefix(":")
    name, sep, port = host.rpartition(":") if host.count(":") == 1 else (host, "", "")
    return name, sep, port


def refusal(server: tuple[str, int] | None, headers: Mapping[str, str]) -> str | None:
    """Why a keyless gateway refuses this request, or None."""
    host = headers.get("host", "")
    origin = headers.get("origin")
    if origin is not None and other_site(origin, host):
        return (
            f"refused a request from the web page at {origin}: this server has no keys, so "
            "only programs on this machine may use it (create a key: tokenomy keys create)"
        )
    if server is not None and is_loopback(server[0]) and not local_name(host):
        return (
            f"refused Host {host!r}: a server with no keys answers only to localhost or an "
            "IP address (create a key to serve other names: tokenomy keys create)"
        )
    return None
