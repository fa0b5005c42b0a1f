"""Notifiers: one narrow contract (``send(alert)``, raising :class:`NotifyError`), three
built-in implementations. The webhooks go through the scheduled reports' delivery (a
timeout per attempt, retries with backoff, ``Retry-After`` honoured, no redirects)."""

from __future__ import annotations

import html
import os
import re
import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any, Protocol

import orjson

from tokenomy.alerts.alert import Alert
from tokenomy.alerts.config import EmailTarget, SlackTarget, Target, WebhookTarget
from tokenomy.reports.config import Webhook
from tokenomy.reports.webhook import WebhookError, post, redact, slack_escape

# Slack refuses a header block longer than this.
SLACK_HEADER_MAX = 150
# What an email header cannot hold: control characters, line and paragraph separators.
_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


class NotifyError(Exception):
    """An alert a notifier could not deliver, with the reason."""


class Notifier(Protocol):
    name: str

    def describe(self) -> str: ...

    def send(self, alert: Alert) -> None: ...


class _Hook:
    def __init__(self, name: str, hook: Webhook) -> None:
        self.name = name
        self.hook = hook

    def describe(self) -> str:
        return redact(self.hook.url)

    def payload(self, alert: Alert) -> dict[str, Any]:
        raise NotImplementedError

    def send(self, alert: Alert) -> None:
        try:
            post(self.hook, orjson.dumps(self.payload(alert)), f"alert {alert.rule}")
        except WebhookError as exc:
            raise NotifyError(str(exc)) from None


class SlackNotifier(_Hook):
    """A Slack incoming webhook: ``text`` (shown in notifications) and blocks. Everything
    that comes from the alert (names of projects, models, users, rules) is escaped for
    Slack's markup; only the bold field names and the code-styled rule are ours."""

    def payload(self, alert: Alert) -> dict[str, Any]:
        esc = slack_escape
        facts = [
            {"type": "mrkdwn", "text": f"*{esc(k)}*\n{esc(v)}"} for k, v in alert.fields.items()
        ]
        header = _escaped_prefix(alert.subject, SLACK_HEADER_MAX)
        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": {"type": "plain_text", "text": header}},
            {"type": "section", "text": {"type": "mrkdwn", "text": esc(alert.text)}},
        ]
        if facts:
            blocks.append({"type": "section", "fields": facts[:10]})
        context = f"rule `{esc(alert.rule)}` · {esc(alert.scope)} · {esc(alert.period)}"
        if alert.link:
            context += f" · {esc(alert.link)}"
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
        return {"text": esc(f"{alert.subject}: {alert.text}"), "blocks": blocks}


def _escaped_prefix(text: str, limit: int) -> str:
    """The longest start of ``text`` whose escaped form fits ``limit`` characters: cutting
    after escaping could split an entity (``&am``)."""
    cut = min(len(text), limit)
    while len(slack_escape(text[:cut])) > limit:
        cut -= 1
    return slack_escape(text[:cut])


class WebhookNotifier(_Hook):
    """Any HTTP endpoint: the alert as JSON (:meth:`Alert.to_json`)."""

    def payload(self, alert: Alert) -> dict[str, Any]:
        return alert.to_json()


class EmailNotifier:
    """SMTP with the standard library: plain text and HTML alternatives."""

    name = "email"

    def __init__(self, target: EmailTarget, env: Mapping[str, str] | None = None) -> None:
        self.target = target
        self.env = os.environ if env is None else env

    def describe(self) -> str:
        return f"smtp://{self.target.host}:{self.target.port} to {', '.join(self.target.to)}"

    def message(self, alert: Alert) -> EmailMessage:
        t = self.target
        msg = EmailMessage()
        # A header cannot hold a line break (the email library refuses it: no header
        # injection); a name with one still gets its alert, on one line.
        msg["Subject"] = _one_line(alert.subject)
        msg["From"] = t.sender
        msg["To"] = ", ".join(t.to)
        msg["Date"] = formatdate(alert.at_ms / 1000)
        msg["Message-ID"] = make_msgid(domain=t.sender.rsplit("@", 1)[-1])
        lines = [alert.text, ""]
        lines += [f"{k}: {v}" for k, v in alert.fields.items()]
        lines += ["", f"rule {alert.rule} · {alert.scope} · {alert.period} · {alert.at}"]
        if alert.link:
            lines.append(alert.link)
        msg.set_content("\n".join(lines))
        rows = "".join(
            f"<tr><th align='left'>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
            for k, v in alert.fields.items()
        )
        msg.add_alternative(
            f"<html><body><h2>{html.escape(alert.subject)}</h2>"
            f"<p>{html.escape(alert.text)}</p><table>{rows}</table>"
            f"<p style='color:#666'>rule {html.escape(alert.rule)} · "
            f"{html.escape(alert.scope)} · {html.escape(alert.period)}</p></body></html>",
            subtype="html",
        )
        return msg

    def _credentials(self) -> tuple[str, str] | None:
        t = self.target
        if t.username_env is None and t.password_env is None:
            return None
        values = []
        for var in (t.username_env, t.password_env):
            value = self.env.get(var or "")
            if not value:
                raise NotifyError(
                    f"email: the environment variable {var} (alerts.notify.email) is not set"
                )
            values.append(value)
        return values[0], values[1]

    def send(self, alert: Alert) -> None:
        t = self.target
        credentials = self._credentials()
        try:
            smtp: smtplib.SMTP
            if t.ssl:
                smtp = smtplib.SMTP_SSL(
                    t.host, t.port, timeout=t.timeout, context=ssl.create_default_context()
                )
            else:
                smtp = smtplib.SMTP(t.host, t.port, timeout=t.timeout)
            with smtp:
                if t.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if credentials is not None:
                    smtp.login(*credentials)
                refused = smtp.send_message(self.message(alert))
        except (OSError, smtplib.SMTPException) as exc:
            raise NotifyError(f"email via {t.host}:{t.port}: {type(exc).__name__}: {exc}") from None
        if refused:
            raise NotifyError(f"email: refused for {', '.join(sorted(refused))}")


def _one_line(text: str) -> str:
    """Control characters and line or paragraph separators as spaces."""
    return _BREAKS.sub(" ", text)


def make_notifiers(
    targets: Mapping[str, Target], env: Mapping[str, str] | None = None
) -> list[Notifier]:
    out: list[Notifier] = []
    for name, target in targets.items():
        if isinstance(target, SlackTarget):
            out.append(SlackNotifier(name, target.hook))
        elif isinstance(target, WebhookTarget):
            out.append(WebhookNotifier(name, target.hook))
        else:
            out.append(EmailNotifier(target, env))
    return out
