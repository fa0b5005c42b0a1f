"""Rules evaluated on a real database, sent once, cooled down."""

from __future__ import annotations

from pathlib import Path

from tests.reports.hooks import Answer, webhook
from tests.reports.records import at, call

from tokenomy.alerts import (
    AlertsConfig,
    AlertState,
    WebhookNotifier,
    dispatch,
    evaluate,
    parse_alerts,
    run_alerts,
)
from tokenomy.alerts.alert import Alert
from tokenomy.budgets.settings import parse_budgets
from tokenomy.gateway.config import failer
from tokenomy.record import TokenUsage
from tokenomy.reports.config import Webhook
from tokenomy.store import Database, write_records

USD = 1_000_000_000
NOW = at("2026-11-21T12:00:00")


def seed(db: Database) -> None:
    records = []
    for day in range(14, 22):
        for hour in range(24):
            when = f"2026-11-{day:02d}T{hour:02d}:10:00"
            if at(when) >= NOW:
                continue
            spike = day == 21 and hour == 11
            for n in range(30):
                records.append(
                    call(
                        f"{day}-{hour}-{n}", when, project="web",
                        cost_nanos=(20 if spike else 1) * USD // 10,
                        status="error" if spike and n < 15 else "ok",
                        usage=TokenUsage(input_tokens=1000, output_tokens=100),
                    )
                )  # fmt: skip
    write_records(db, records)


RULES = {
    "rules": [
        {"name": "daily-spend", "kind": "threshold", "metric": "cost", "window": "1d",
         "above": 50, "project": "web"},
        {"name": "quiet", "kind": "threshold", "metric": "cost", "window": "1h", "above": 1000},
        {"name": "spend-jump", "kind": "rate_of_change", "metric": "cost", "window": "1h",
         "increase_pct": 200},
        {"name": "weird", "kind": "anomaly", "metrics": ["cost", "error_rate"]},
        {"name": "budget", "kind": "budget", "budget": "web-daily", "at": [0.5, 1.0]},
    ],
    "cooldown": 3600,
}  # fmt: skip


def config(path: Path) -> AlertsConfig:
    budgets = parse_budgets(
        {"rules": [{"name": "web-daily", "project": "web", "period": "daily", "limit_usd": 100}]},
        "budgets",
        failer(path),
    )
    return parse_alerts(RULES, path, budgets)


def test_rules_fire_on_a_real_database(db: Database, tmp_path: Path) -> None:
    seed(db)
    alerts = evaluate(db, config(tmp_path / "t.yaml"), NOW)
    by_rule = {a.rule: a for a in alerts}
    # day spend: 23 h x 30 x $0.10 + 30 x $2 = $129; the last hour $60 against $3.
    assert set(by_rule) == {"daily-spend", "spend-jump", "weird", "budget"}
    assert by_rule["daily-spend"].fields["observed"] == "$129.00"
    assert by_rule["daily-spend"].values == {"observed_usd": 129.0, "above_usd": 50.0}
    assert by_rule["spend-jump"].fields["increase"] == "1900%"
    assert by_rule["spend-jump"].values == {
        "now_usd": 60.0,
        "before_usd": 3.0,
        "increase_pct": 1900.0,
    }
    weird = sorted(a.scope for a in alerts if a.rule == "weird")
    assert weird == ["web/claude-sonnet-4-5/cost", "web/claude-sonnet-4-5/error_rate"]
    assert by_rule["budget"].fields["threshold"] == "50%"  # today: $93 of $100
    assert by_rule["budget"].values == {
        "spent_usd": 93.0,
        "limit_usd": 100.0,
        "threshold_share": 0.5,
    }
    cost = next(a for a in alerts if a.scope.endswith("/cost"))
    assert (cost.fields["observed"], cost.values["observed_usd"]) == ("$60.00", 60.0)


def test_budget_rule_takes_the_highest_fraction_reached(
    sqlite_db: Database, tmp_path: Path
) -> None:
    seed(sqlite_db)
    # Spend on 2026-11-21 up to 12:00 is 11 x $3 + $60 = $93: 50% reached, 100% not.
    alerts = [
        a for a in evaluate(sqlite_db, config(tmp_path / "t.yaml"), NOW) if a.rule == "budget"
    ]
    assert [a.fields["spent"] for a in alerts] == ["$93.00"]


def test_sent_once_and_cooled_down(sqlite_db: Database, tmp_path: Path) -> None:
    seed(sqlite_db)
    cfg = config(tmp_path / "t.yaml")
    state = AlertState(tmp_path / "alerts")
    with webhook() as hook:
        notifier = WebhookNotifier("webhook", Webhook(hook.url, retries=0))
        first = run_alerts(sqlite_db, cfg, [notifier], state, NOW)
        assert {o.status for o in first} == {"sent"}
        again = run_alerts(sqlite_db, cfg, [notifier], state, NOW + 60_000)
        assert {o.status for o in again} <= {"duplicate", "cooling_down"}
        sent = len(hook.received)
    assert sent == len(first)
    # Same rule and scope, a new period, within the cool-down: held back, then sent.
    later = first[0].alert
    moved = type(later)(**{**{s: getattr(later, s) for s in later.__slots__}, "period": "next"})
    with webhook() as hook:
        notifier = WebhookNotifier("webhook", Webhook(hook.url, retries=0))
        held = dispatch([moved], [notifier], state, 3600, NOW + 1_800_000)
        went = dispatch([moved], [notifier], state, 3600, NOW + 3_700_000)
    assert [held[0].status, went[0].status] == ["cooling_down", "sent"]
    assert len(hook.received) == 1


def test_alerts_only_listed_are_delivered_once_a_notifier_is_added(
    sqlite_db: Database, tmp_path: Path
) -> None:
    seed(sqlite_db)
    cfg = config(tmp_path / "t.yaml")
    state = AlertState(tmp_path / "alerts")
    listed = run_alerts(sqlite_db, cfg, [], state, NOW)
    assert listed and {o.status for o in listed} == {"listed"}
    with webhook() as hook:
        notifier = WebhookNotifier("webhook", Webhook(hook.url, retries=0))
        sent = run_alerts(sqlite_db, cfg, [notifier], state, NOW + 60_000)
        assert {o.status for o in sent} == {"sent"}
        assert len(hook.received) == len(listed)


def test_failed_delivery_is_retried_next_run(sqlite_db: Database, tmp_path: Path) -> None:
    seed(sqlite_db)
    cfg = config(tmp_path / "t.yaml")
    state = AlertState(tmp_path / "alerts")
    with webhook(then=Answer(500)) as hook:
        notifier = WebhookNotifier("webhook", Webhook(hook.url, retries=0))
        failed = run_alerts(sqlite_db, cfg, [notifier], state, NOW)
    assert {o.status for o in failed} == {"failed"}
    assert "HTTP 500" in failed[0].deliveries[0].reason
    with webhook() as hook:
        notifier = WebhookNotifier("webhook", Webhook(hook.url, retries=0))
        sent = run_alerts(sqlite_db, cfg, [notifier], state, NOW)
    assert {o.status for o in sent} == {"sent"}


def test_quiet_data_fires_nothing(sqlite_db: Database, tmp_path: Path) -> None:
    assert evaluate(sqlite_db, config(tmp_path / "t.yaml"), NOW) == []


class Broken:
    """A notifier with a bug: it raises something other than NotifyError."""

    name = "broken"

    def describe(self) -> str:
        return "broken"

    def send(self, alert: Alert) -> None:
        raise ValueError(f"cannot send {alert.rule}")


def test_a_notifier_that_raises_is_a_failed_delivery_and_the_run_goes_on(
    sqlite_db: Database, tmp_path: Path
) -> None:
    seed(sqlite_db)
    cfg = config(tmp_path / "t.yaml")
    state = AlertState(tmp_path / "alerts")
    with webhook() as hook:
        notifiers = [Broken(), WebhookNotifier("webhook", Webhook(hook.url, retries=0))]
        outcomes = run_alerts(sqlite_db, cfg, notifiers, state, NOW)
        assert len(outcomes) > 1 and {o.status for o in outcomes} == {"sent"}
        assert len(hook.received) == len(outcomes)  # every alert, after the broken one
        for o in outcomes:
            assert [(d.notifier, d.ok) for d in o.deliveries] == [
                ("broken", False),
                ("webhook", True),
            ]
            assert o.deliveries[0].reason == f"ValueError: cannot send {o.alert.rule}"
        # The state was saved: nothing goes out twice.
        again = run_alerts(sqlite_db, cfg, notifiers, state, NOW + 60_000)
        assert {o.status for o in again} <= {"duplicate", "cooling_down"}
        assert len(hook.received) == len(outcomes)


def test_amounts_under_a_cent_keep_their_digits_and_the_payload_has_the_numbers(
    sqlite_db: Database, tmp_path: Path
) -> None:
    """$0.00135 against a rule at $0.001 read "$0.00 above $0.00"; a webhook had only the
    formatted strings to go by."""
    write_records(
        sqlite_db, [call("a", "2026-11-21T11:00:00", project="web", cost_nanos=1_350_000)]
    )
    rules = {"rules": [{"name": "tiny", "kind": "threshold", "metric": "cost", "window": "1d",
                        "above": 0.001, "project": "web"}]}  # fmt: skip
    cfg = parse_alerts(rules, tmp_path / "t.yaml", parse_budgets({}, "budgets", failer(tmp_path)))
    with webhook() as hook:
        notifier = WebhookNotifier("webhook", Webhook(hook.url, retries=0))
        [outcome] = run_alerts(sqlite_db, cfg, [notifier], AlertState(tmp_path / "a"), NOW)
    assert outcome.status == "sent"
    body = hook.received[0].json()
    assert body["text"] == (
        "Cost over the last 1d for project web is $0.00135, above the rule's $0.001."
    )
    assert body["fields"] == {
        "observed": "$0.00135",
        "above": "$0.001",
        "observed_usd": 0.00135,
        "above_usd": 0.001,
    }
