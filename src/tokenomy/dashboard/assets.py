"""The dashboard's files, served from the package (no CDN, no network, no build step).

Every page path answers with the same ``index.html``: the page, time range and filters
live in the URL's query string, so a shared link opens the same view. Files are read once
and served with an ETag; a strict Content-Security-Policy allows nothing from elsewhere.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

Message = MutableMapping[str, Any]
Send = Callable[[Message], Awaitable[None]]

STATIC_PREFIX = "/static/"
# The pages of the app; each is `/?page=<name>`, and `/` alone is the Overview.
PAGES = (
    "overview",
    "costs",
    "models",
    "projects",
    "sessions",
    "failures",
    "cache",
    "advice",
    "calls",
    "gateway",
)
_TYPES = {
    ".html": b"text/html; charset=utf-8",
    ".js": b"text/javascript; charset=utf-8",
    ".css": b"text/css; charset=utf-8",
    ".svg": b"image/svg+xml",
    ".md": b"text/plain; charset=utf-8",
}
# Scripts and styles only from this server; the charts draw on canvas. Inline styles are
# allowed because the chart library sizes its canvas with them.
_CSP = (
    b"default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    b"img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
)


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: bytes
    etag: bytes


class Assets:
    """The packaged files, each read once. Only they are ever kept: a request for any other
    name (missing, too long for the file system, trying to leave the folder) is a None
    that costs no memory and touches no file."""

    def __init__(self) -> None:
        self._cache: dict[str, Asset] = {}
        self._names: frozenset[str] | None = None

    def get(self, name: str) -> Asset | None:
        """The packaged file ``static/<name>``, or None."""
        asset = self._cache.get(name)
        if asset is not None or name not in self.names():
            return asset
        body = _static().joinpath(*name.split("/")).read_bytes()
        etag = b'"' + hashlib.sha256(body).hexdigest()[:20].encode() + b'"'
        asset = self._cache[name] = Asset(body, _TYPES[_suffix(name)], etag)
        return asset

    def names(self) -> frozenset[str]:
        """Every servable file under ``static/`` (``js/main.js``), listed once."""
        if self._names is None:
            self._names = frozenset(_listed(_static()))
        return self._names

    async def serve(
        self, path: str, headers: MutableMapping[str, str], send: Send, method: str
    ) -> bool:
        """Answer ``GET path`` if it is the dashboard's (``/`` or a static file); False if
        the path is not the dashboard's, so the caller routes it on."""
        if path == "/":
            name = "index.html"
        elif path.startswith(STATIC_PREFIX):
            name = path[len(STATIC_PREFIX) :]
        else:
            return False
        if method not in ("GET", "HEAD"):
            await _plain(send, 405, b"the dashboard is read with GET")
            return True
        asset = self.get(name)
        if asset is None:
            await _plain(send, 404, b"no such dashboard file")
            return True
        common = [
            (b"content-type", asset.content_type),
            (b"etag", asset.etag),
            # Revalidated each time: an upgrade must never leave a stale script behind.
            (b"cache-control", b"no-cache"),
            (b"x-content-type-options", b"nosniff"),
            (b"content-security-policy", _CSP),
            (b"referrer-policy", b"no-referrer"),
        ]
        if headers.get("if-none-match") == asset.etag.decode():
            await send({"type": "http.response.start", "status": 304, "headers": common})
            await send({"type": "http.response.body", "body": b""})
            return True
        body = b"" if method == "HEAD" else asset.body
        common.append((b"content-length", str(len(asset.body)).encode()))
        await send({"type": "http.response.start", "status": 200, "headers": common})
        await send({"type": "http.response.body", "body": body})
        return True


def _static() -> Traversable:
    return resources.files("tokenomy.dashboard").joinpath("static")


def _suffix(name: str) -> str:
    return "." + name.rsplit(".", 1)[-1]


def _listed(folder: Traversable, prefix: str = "") -> Iterator[str]:
    for node in folder.iterdir():
        if node.is_dir():
            yield from _listed(node, f"{prefix}{node.name}/")
        elif node.is_file() and _suffix(node.name) in _TYPES:
            yield prefix + node.name


async def _plain(send: Send, status: int, text: bytes) -> None:
    headers = [(b"content-type", b"text/plain; charset=utf-8")]
    headers.append((b"content-length", str(len(text)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": text})
