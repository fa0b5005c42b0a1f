"""Images and files as each protocol carries them: OpenAI puts them in URLs (``data:`` or
http), Anthropic in ``source`` objects, Gemini in ``inlineData`` / ``fileData`` parts."""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from urllib.parse import urlsplit

from tokenomy.gateway.translate.base import TranslationError


@dataclass(frozen=True, slots=True)
class Inline:
    """Bytes carried in the request itself, still base64-encoded."""

    media_type: str
    data: str


def parse_data_url(url: str, where: str) -> Inline | None:
    """``data:image/png;base64,AAAA`` -> Inline; None for any other URL."""
    if not url.startswith("data:"):
        return None
    header, comma, data = url[len("data:") :].partition(",")
    if not comma:
        raise TranslationError(f"{where}: a data: URL without a comma")
    media_type, *params = header.split(";")
    if "base64" not in params:
        # Every provider wants base64; percent-encoded data URLs are rare enough to refuse.
        raise TranslationError(f"{where}: only base64 data: URLs are supported")
    return Inline(media_type or "application/octet-stream", data)


def data_url(media_type: str, data: str) -> str:
    return f"data:{media_type};base64,{data}"


def guess_media_type(url: str) -> str | None:
    """The type a URL's file extension implies (Gemini's fileData wants one when known)."""
    return mimetypes.guess_type(urlsplit(url).path, strict=False)[0]
