"""Reports as files: a self-contained HTML page (and its data as JSON) for a range of
calls, and reports produced on a schedule from ``tokenomy.yaml``'s ``reports:`` section,
written to a folder or posted to a webhook. Figures come from the analytics API's own
queries (see ``data.py``), so they are the API's and the dashboard's.
"""

from tokenomy.reports.config import ReportConfigError, ScheduledReport, Webhook, load_reports
from tokenomy.reports.data import ReportSpec, collect
from tokenomy.reports.html import render
from tokenomy.reports.schedule import Outcome, RunResult, run_due, status
from tokenomy.reports.state import ReportState, ReportStateError
from tokenomy.reports.webhook import WebhookError

__all__ = [
    "Outcome",
    "ReportConfigError",
    "ReportSpec",
    "ReportState",
    "ReportStateError",
    "RunResult",
    "ScheduledReport",
    "Webhook",
    "WebhookError",
    "collect",
    "load_reports",
    "render",
    "run_due",
    "status",
]
