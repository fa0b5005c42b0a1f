"""`tokenomy alerts check|run|test`: anomalies now, alert rules from tokenomy.yaml sent
to Slack, a webhook or email, and a sample to every notifier. Thin over
:mod:`tokenomy.alerts` and :mod:`tokenomy.anomalies`."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from tokenomy.cli.context import (
    Context,
    UsageError,
    add_config_and_now,
    find_config,
    instant_ms,
    local_zone,
    parse_zone,
    require_command,
)
from tokenomy.cli.format import printable
from tokenomy.config import Paths

EPILOG = """\
Rules and notifiers go under `alerts:` in tokenomy.yaml (see docs/alerts.md). Nothing runs
them by itself: call `tokenomy alerts run` from cron, e.g. every 5 minutes:
  */5 * * * *  tokenomy alerts run --config /etc/tokenomy/tokenomy.yaml
An alert is sent once per rule, scope and period, and not again within `cooldown`."""


# What `alerts run` and `alerts test` tell a user who has no config yet.
_DECLARE_ALERTS = "declare rules and notifiers under `alerts:` in one (see docs/alerts.md)"


def _load(path: Path | None) -> Any:
    from tokenomy.alerts import AlertConfigError, AlertsConfig, load_alerts

    if path is None:
        return AlertsConfig()
    try:
        return load_alerts(path)
    except AlertConfigError as exc:
        raise UsageError(str(exc)) from None


def _on_the_users_clock(config: Any, timezone: str | None) -> Any:
    """The config with the clock anomalies are judged on: -z, else alerts.timezone, else
    this machine's zone (a team's weekends are its own, not UTC's)."""
    from dataclasses import replace

    if timezone:
        zone = parse_zone(timezone)
    elif config.timezone is not None:
        return config
    else:
        zone = local_zone()
    return replace(config, anomaly=replace(config.anomaly, zone=zone))


def _print_json(data: Any) -> None:
    sys.stdout.write(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode() + "\n")


def cmd_alerts_check(args: argparse.Namespace) -> int:
    """List anomalies (cost, tokens, error rate, p95 latency per project and model)."""
    from tokenomy.anomalies import find_anomalies

    paths = Paths.from_env()
    config = _on_the_users_clock(
        _load(find_config(args.config, paths, missing=None)), args.timezone
    )
    now = instant_ms(args.now, "--now")
    since = instant_ms(args.since, "--since") if args.since else now - 24 * 3_600_000
    if since >= now:
        raise UsageError("--since must be before now")
    ctx = Context(paths)
    try:
        found = find_anomalies(ctx.db, since, now, config.anomaly)
    finally:
        ctx.close()
    if args.json:
        _print_json({"anomalies": [a.to_json() for a in found]})
        return 0
    if not found:
        print("No anomalies.")
        return 0
    for a in found:
        print(f"{printable(a.describe())}\n  {printable(a.link)}")
    return 0


def _notifiers(config: Any) -> list[Any]:
    from tokenomy.alerts import make_notifiers

    return make_notifiers(config.targets)


def cmd_alerts_run(args: argparse.Namespace) -> int:
    """Evaluate every alert rule now and send what fires to every notifier."""
    from tokenomy.alerts import AlertState, AlertStateError, run_alerts

    paths = Paths.from_env()
    path = find_config(args.config, paths, missing=_DECLARE_ALERTS)
    config = _on_the_users_clock(_load(path), args.timezone)
    if not config.rules:
        sys.stderr.write(f"{path} declares no alert rules (add `alerts: rules:`)\n")
        return 0
    notifiers = _notifiers(config)
    if not notifiers:
        sys.stderr.write(f"{path}: no notifier under alerts.notify: alerts are only listed\n")
    ctx = Context(paths)
    try:
        outcomes = run_alerts(
            ctx.db,
            config,
            notifiers,
            AlertState(paths.home / "alerts"),
            instant_ms(args.now, "--now"),
        )
    except AlertStateError as exc:
        raise UsageError(str(exc)) from None
    finally:
        ctx.close()
    # Any failed delivery fails the run (docs/alerts.md), even when another notifier took
    # the alert: cron then reports the notifier that is down.
    ok = all(d.ok for o in outcomes for d in o.deliveries)
    if args.json:
        _print_json({"config": str(path), "ok": ok, "alerts": [o.to_json() for o in outcomes]})
        return 0 if ok else 1
    if not outcomes:
        print("No rule fires.")
    for o in outcomes:
        print(f"{o.status:<12} {printable(o.alert.title)}")
        for d in o.deliveries:
            if not d.ok:
                print(f"             {d.notifier}: failed: {printable(d.reason)}")
    return 0 if ok else 1


def cmd_alerts_test(args: argparse.Namespace) -> int:
    """Send a clearly marked sample alert to every notifier and say which took it."""
    from tokenomy.alerts import send_test

    paths = Paths.from_env()
    path = find_config(args.config, paths, missing=_DECLARE_ALERTS)
    notifiers = _notifiers(_load(path))
    if not notifiers:
        raise UsageError(f"{path}: no notifier under alerts.notify (slack, webhook, email)")
    results = send_test(notifiers, int(time.time() * 1000))
    ok = all(d.ok for d in results)
    if args.json:
        _print_json({"config": str(path), "ok": ok, "notifiers": [d.to_json() for d in results]})
        return 0 if ok else 1
    for n, d in zip(notifiers, results, strict=True):
        print(f"{d.notifier:<8} {'OK' if d.ok else 'FAILED'}  {n.describe()}")
        if not d.ok:
            print(f"         {printable(d.reason)}")
    return 0 if ok else 1


def add_alerts_parser(sub: Any, command: Any) -> None:
    alerts = sub.add_parser(
        "alerts",
        help="Anomalies and alert rules: check, run (from cron), test the notifiers.",
        description="Anomalies and alert rules: check, run (from cron), test the notifiers.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    inner = alerts.add_subparsers(title="commands", metavar="COMMAND")
    require_command(alerts, inner)
    for name, func in (
        ("check", cmd_alerts_check),
        ("run", cmd_alerts_run),
        ("test", cmd_alerts_test),
    ):
        p = command(inner, name, func)
        add_config_and_now(p, "alerts", now=name != "test")
        if name != "test":
            p.add_argument(
                "-z",
                "--timezone",
                metavar="ZONE",
                help="IANA time zone whose days and weekends anomalies are judged on "
                "(default: alerts.timezone, else this machine's)",
            )
        if name == "check":
            p.add_argument(
                "--since",
                metavar="TIME",
                help="judge the complete hours from this ISO 8601 time (default: the last 24 h)",
            )
