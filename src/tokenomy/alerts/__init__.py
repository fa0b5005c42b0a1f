"""Alert rules from tokenomy.yaml (threshold, rate of change, anomaly, budget), sent to
Slack, a webhook or email, once per rule, scope and period, with a cool-down. See
docs/alerts.md."""

from tokenomy.alerts.alert import Alert, sample_alert
from tokenomy.alerts.config import AlertConfigError, AlertsConfig, Rule, load_alerts, parse_alerts
from tokenomy.alerts.hook import budget_hook
from tokenomy.alerts.notifiers import (
    EmailNotifier,
    Notifier,
    NotifyError,
    SlackNotifier,
    WebhookNotifier,
    make_notifiers,
)
from tokenomy.alerts.rules import evaluate
from tokenomy.alerts.run import Delivery, Outcome, dispatch, run_alerts, send_test
from tokenomy.alerts.state import AlertState, AlertStateError

__all__ = [
    "Alert",
    "AlertConfigError",
    "AlertState",
    "AlertStateError",
    "AlertsConfig",
    "Delivery",
    "EmailNotifier",
    "Notifier",
    "NotifyError",
    "Outcome",
    "Rule",
    "SlackNotifier",
    "WebhookNotifier",
    "budget_hook",
    "dispatch",
    "evaluate",
    "load_alerts",
    "make_notifiers",
    "parse_alerts",
    "run_alerts",
    "sample_alert",
    "send_test",
]
