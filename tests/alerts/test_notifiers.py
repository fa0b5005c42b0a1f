"""Each notifier against a local receiving server."""

from __future__ import annotations

import pytest
from tests.alerts.smtp_sink import smtp_sink
from tests.reports.hooks import Answer, webhook

from tokenomy.alerts import EmailNotifier, NotifyError, SlackNotifier, WebhookNotifier
from tokenomy.alerts.alert import Alert, sample_alert
from tokenomy.alerts.config import EmailTarget
from tokenomy.reports.config import Webhook

ALERT = Alert(
    "daily-spend", "threshold", "project web", "2026-11-21", "daily-spend: cost is $60.00",
    "Cost over the last 1d for project web is $60.00, above the rule's $50.00.",
    1_795_000_000_000, {"observed": "$60.00", "above": "$50.00"}, link="/api/v1/calls?project=web",
)  # fmt: skip


def test_slack_gets_text_and_blocks() -> None:
    with webhook() as hook:
        SlackNotifier("slack", Webhook(hook.url, retries=0)).send(ALERT)
    body = hook.received[0].json()
    assert body["text"].startswith("[tokenomy] daily-spend: cost is $60.00")
    assert body["blocks"][0]["type"] == "header"
    assert {"type": "mrkdwn", "text": "*observed*\n$60.00"} in body["blocks"][2]["fields"]


def test_slack_escapes_names_and_keeps_its_own_markup() -> None:
    """A project or model named with Slack's markup (<!channel>, <url|text>) reaches Slack
    as text: & < > as entities in every block and in the notification text."""
    evil = "web <!channel> <https://evil.example/login|Re-authenticate> & co"
    alert = Alert(
        "spike", "anomaly", f"{evil}/m/cost", "2026-11-20T10:00:00+00:00", f"spike: {evil}",
        f"cost of {evil} is high", 1_795_000_000_000, {"project": evil},
        link="/api/v1/calls?project=web&model=m",
    )  # fmt: skip
    with webhook() as hook:
        SlackNotifier("slack", Webhook(hook.url, retries=0)).send(alert)
    body = hook.received[0].json()
    safe = "web &lt;!channel&gt; &lt;https://evil.example/login|Re-authenticate&gt; &amp; co"
    assert body["text"] == f"[tokenomy] spike: {safe}: cost of {safe} is high"
    header, section, facts, context = body["blocks"]
    assert header["text"]["text"] == f"[tokenomy] spike: {safe}"
    assert section["text"]["text"] == f"cost of {safe} is high"
    assert facts["fields"] == [{"type": "mrkdwn", "text": f"*project*\n{safe}"}]
    assert context["elements"][0]["text"] == (
        f"rule `spike` · {safe}/m/cost · 2026-11-20T10:00:00+00:00 · "
        "/api/v1/calls?project=web&amp;model=m"
    )
    assert "<" not in hook.received[0].body.decode()


def test_slack_header_is_cut_to_150_characters_after_escaping() -> None:
    alert = Alert("r", "threshold", "s", "p", "<" * 200, "t", 1_795_000_000_000)
    with webhook() as hook:
        SlackNotifier("slack", Webhook(hook.url, retries=0)).send(alert)
    header = hook.received[0].json()["blocks"][0]["text"]["text"]
    assert header == "[tokenomy] " + "&lt;" * 34  # 11 + 34 * 4 = 147: a 35th would not fit


def test_webhook_gets_the_alert_as_json_and_retries_a_5xx() -> None:
    with webhook(Answer(503, {"Retry-After": "0"})) as hook:
        WebhookNotifier("webhook", Webhook(hook.url, retries=1, backoff=0)).send(ALERT)
    assert len(hook.received) == 2
    body = hook.received[1].json()
    assert body["rule"] == "daily-spend" and body["period"] == "2026-11-21"
    assert body["sample"] is False and body["fields"]["above"] == "$50.00"


def test_webhook_credentials_in_the_url_are_sent_as_basic_auth_and_never_shown() -> None:
    with webhook(then=Answer(404)) as hook:
        url = hook.url.replace("http://", "http://ops:pw123@")
        notifier = WebhookNotifier("webhook", Webhook(url, retries=0))
        with pytest.raises(NotifyError) as failed:
            notifier.send(ALERT)
    assert hook.received[0].headers["Authorization"] == "Basic b3BzOnB3MTIz"  # ops:pw123
    for shown in (str(failed.value), notifier.describe()):
        assert "http://127.0.0.1:" in shown and "pw123" not in shown and "ops" not in shown


def test_webhook_failure_names_the_reason() -> None:
    with webhook(then=Answer(404, body=b"no such hook")) as hook:
        notifier = WebhookNotifier("webhook", Webhook(hook.url, retries=0))
        with pytest.raises(NotifyError, match=r"HTTP 404.*no such hook"):
            notifier.send(ALERT)


def test_email_sends_plain_text_and_html() -> None:
    with smtp_sink() as sink:
        target = EmailTarget("127.0.0.1", sink.port, "tokenomy@example.com", ("ops@example.com",))
        EmailNotifier(target).send(sample_alert(1_795_000_000_000))
    (msg,) = sink.messages
    assert msg["Subject"] == "[tokenomy TEST] Test alert: notifications work"
    assert sink.envelopes == [("tokenomy@example.com", ["ops@example.com"])]
    plain = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    assert plain is not None and "tokenomy alerts test" in plain.get_content()
    assert html is not None and "<h2>" in html.get_content()


def test_email_refused_recipient_and_missing_credentials() -> None:
    with smtp_sink(refuse_rcpt=True) as sink:
        target = EmailTarget("127.0.0.1", sink.port, "t@example.com", ("nobody@example.com",))
        with pytest.raises(NotifyError, match="SMTPRecipientsRefused"):
            EmailNotifier(target).send(ALERT)
    target = EmailTarget(
        "127.0.0.1", 25, "t@x.org", ("a@x.org",), username_env="U_X", password_env="P_X"
    )
    with pytest.raises(NotifyError, match="U_X"):
        EmailNotifier(target, env={}).send(ALERT)
