"""Posting a report to a webhook, with a timeout per attempt and retries with exponential
backoff on a 5xx, a 429 or no answer (a ``Retry-After`` the server sends is honoured).
Anything else (a 4xx, a redirect) fails at once: trying again would not change it.

The standard library's client is enough for one POST per report and keeps ``tokenomy``'s
start-up short. Redirects are not followed, since urllib would turn the POST into a GET
and drop the report on the way.
"""

from __future__ import annotations

import base64
import http.client
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import unquote, urlsplit, urlunsplit

from tokenomy.reports.config import Webhook

# A server asking for a longer wait fails this run; the next run tries again.
MAX_RETRY_AFTER = 120.0
MAX_BACKOFF = 60.0
USER_AGENT = "tokenomy-reports"


class WebhookError(Exception):
    """A report the webhook did not take, with the report, the URL and the last answer."""


@dataclass(frozen=True, slots=True)
class Delivered:
    status: int
    attempts: int


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_args: object, **_kwargs: object) -> None:
        return None  # urllib then raises HTTPError with the 3xx


def redact(url: str) -> str:
    """The URL for messages: host and path, each long path part cut to its first four
    characters (hook URLs carry their secret in the path), no ``user:password@``, no
    query."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    path = "/".join(p if len(p) <= 8 else p[:4] + "…" for p in parts.path.split("/"))
    return f"{parts.scheme}://{host}{path}" + ("?…" if parts.query else "")


def target(url: str) -> tuple[str, dict[str, str]]:
    """The URL to open and the headers for it: a ``user:password@`` part becomes an
    ``Authorization: Basic`` header (urllib would take it for part of the host name and
    never connect), percent-escapes decoded, UTF-8 (RFC 7617)."""
    parts = urlsplit(url)
    userinfo, at, host = parts.netloc.rpartition("@")
    if not at:
        return url, {}
    user, _, password = userinfo.partition(":")
    token = base64.b64encode(f"{unquote(user)}:{unquote(password)}".encode()).decode()
    return urlunsplit(parts._replace(netloc=host)), {"Authorization": f"Basic {token}"}


def slack_escape(text: str) -> str:
    """Text for Slack's markup (``mrkdwn`` and a message's ``text``), which reads ``&``,
    ``<`` and ``>`` as control characters: a name such as ``<!channel>`` or
    ``<https://evil.example|Log in>`` would ping everyone or show a disguised link. Slack's
    "Escaping text" rule: these three as HTML entities, nothing else."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def retryable(status: int) -> bool:
    return status in (408, 429) or status >= 500


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - (now or datetime.now(UTC))).total_seconds())


def post(
    hook: Webhook,
    body: bytes,
    what: str,
    *,
    sleep: Callable[[float], None] = time.sleep,
) -> Delivered:
    """POST ``body`` (JSON) to the hook; :class:`WebhookError` naming ``what`` (the
    report) and the URL when it does not take it."""
    opener = urllib.request.build_opener(_NoRedirect)
    url, auth = target(hook.url)
    attempts = hook.retries + 1
    where = f"{what}: webhook {redact(hook.url)}"
    last = ""
    tried = 0
    for attempt in range(attempts):
        tried += 1
        request = urllib.request.Request(
            url,
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "User-Agent": USER_AGENT, **auth},
        )
        wait: float | None = None
        try:
            with opener.open(request, timeout=hook.timeout) as response:
                response.read()
                return Delivered(response.status, tried)
        except urllib.error.HTTPError as err:
            with err:
                detail = err.read(2000).decode("utf-8", "replace").strip()
            if 300 <= err.code < 400:
                raise WebhookError(
                    f"{where} answered HTTP {err.code} {err.reason} to "
                    f"{err.headers.get('Location') or '?'}; redirects are not followed: put "
                    "the final URL in tokenomy.yaml"
                ) from None
            last = f"HTTP {err.code} {err.reason}" + (f": {detail[:200]}" if detail else "")
            if not retryable(err.code):
                raise WebhookError(f"{where} refused the report: {last}") from None
            wait = retry_after(err.headers.get("Retry-After"))
        except (OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", None) or exc
            last = f"no answer ({reason or type(exc).__name__})"
        if attempt + 1 == attempts:
            break
        if wait is not None and wait > MAX_RETRY_AFTER:
            last += f" (asked to retry after {wait:.0f} s, longer than {MAX_RETRY_AFTER:.0f} s)"
            break
        sleep(wait if wait is not None else min(hook.backoff * 2**attempt, MAX_BACKOFF))
    tries = f"{tried} attempt" + ("s" if tried > 1 else "")
    raise WebhookError(f"{where} failed after {tries}: {last}")
