"""The dashboard's files, served from the package (no CDN, no network, no build step).

Every page path answers with the same ``index.html``: the page, time range and filters
live in the URL's query string, so a shared link opens the same view. Files are read once
and served with an ETag; a strict Content-Security-Policy allows nothing from elsewhere.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from importlib import resources
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
    def __init__(self) -> None:
        self._cache: dict[str, Asset | None] = {}

    def get(self, name: str) -> Asset | None:
        """The packaged file ``static/<name>``, or None (also for any path that tries to
        leave the folder)."""
        if name in self._cache:
            return self._cache[name]
        asset = None
        parts = name.split("/")
        if name and all(p and p not in (".", "..") and "\\" not in p for p in parts):
            node = resources.files("tokenomy.dashboard").joinpath("static", *parts)
            suffix = "." + parts[-1].rsplit(".", 1)[-1]
            if node.is_file() and suffix in _TYPES:
                body = node.read_bytes()
                etag = b'"' + hashlib.sha256(body).hexdigest()[:20].encode() + b'"'
                asset = Asset(body, _TYPES[suffix], etag)
        self._cache[name] = asset
        return asset

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


async def _plain(send: Send, status: int, text: bytes) -> None:
    headers = [(b"content-type", b"text/plain; charset=utf-8")]
    headers.append((b"content-length", str(len(text)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": text})
