"""`tokenomy keys create | list | revoke`: virtual keys for the gateway.

Thin over :mod:`tokenomy.keys`. The helpers main.py also has (``_command``, ``_console``,
``_print_json``) are repeated here rather than imported: main.py imports this module to
add the commands, and importing main from here would be circular.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import orjson

from tokenomy.analytics.rows import iso_utc
from tokenomy.cli.context import Context, UsageError, require_command
from tokenomy.cli.format import usd
from tokenomy.config import Paths
from tokenomy.keys import BUDGET_PERIODS, KeyInfo, KeyStore, KeyStoreError
from tokenomy.record import MAX_BUDGET_NANOS, NANOS_PER_USD

if TYPE_CHECKING:  # rich is imported only when something is drawn: --json stays lean
    from rich.console import Console

GATEWAY_URL = "http://127.0.0.1:4000"
PERIOD_UNITS = {"daily": "day", "monthly": "month"}


def _console() -> Console:
    from rich.console import Console

    # soft_wrap: a secret split over two lines could be copied with a line break in it.
    return Console(highlight=False, soft_wrap=True)


def _print_json(value: Any) -> None:
    sys.stdout.write(orjson.dumps(value, option=orjson.OPT_INDENT_2).decode() + "\n")


def _command(
    sub: Any, name: str, func: Callable[[argparse.Namespace], int]
) -> argparse.ArgumentParser:
    doc = (func.__doc__ or "").strip()
    parser: argparse.ArgumentParser = sub.add_parser(name, help=doc, description=doc)
    parser.set_defaults(func=func)
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")
    return parser


def _usd(text: str) -> Decimal:
    """argparse type for ``--budget``: dollars, exactly as written (``5``, ``12.50``, ``$20``)."""
    try:
        value = Decimal(text.strip().removeprefix("$").replace(",", ""))
    except InvalidOperation:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an amount of USD, e.g. 25 or 12.50"
        ) from None
    if not value.is_finite() or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: the budget must be zero or more USD")
    most = MAX_BUDGET_NANOS // NANOS_PER_USD
    if value > most:
        raise argparse.ArgumentTypeError(f"{text!r}: the budget can be at most ${most:,}")
    return value


def key_json(key: KeyInfo) -> dict[str, Any]:
    """A key for scripts: never the secret. The budget is given both as a number of dollars
    and as exact nano-dollars, the unit costs are stored in."""
    budget = key.budget_usd
    return {
        "id": key.id,
        "prefix": key.display_prefix.rstrip("…"),
        "name": key.name,
        "project": key.project,
        "user": key.user,
        "budget_usd": None if budget is None else float(budget),
        "budget_nanos": key.budget_nanos,
        "budget_period": key.budget_period,
        "created_at": iso_utc(key.created_at_ms),
        "revoked_at": None if key.revoked_at_ms is None else iso_utc(key.revoked_at_ms),
    }


def _budget_text(key: KeyInfo) -> str:
    budget = key.budget_usd
    if budget is None:
        return "none"
    amount = f"${budget:,.2f}" if budget == budget.quantize(Decimal("0.01")) else f"${budget}"
    return f"{amount} {key.budget_period}"


def _who(key: KeyInfo) -> str:
    parts = [
        f"{label} {value}"
        for label, value in (("name", key.name), ("project", key.project), ("user", key.user))
        if value
    ]
    parts.append(f"budget {_budget_text(key)}")
    return ", ".join(parts)


def _with_store(action: Callable[[KeyStore], int]) -> int:
    ctx = Context(Paths.from_env())
    try:
        return action(KeyStore(ctx.db))
    except KeyStoreError as exc:
        raise UsageError(str(exc)) from exc
    finally:
        ctx.close()


def cmd_keys_create(args: argparse.Namespace) -> int:
    """Create a virtual key for the gateway; its secret is shown once and only its hash kept."""
    if args.budget_period and args.budget is None:
        raise UsageError("--budget-period needs --budget USD")

    def create(store: KeyStore) -> int:
        secret, key = store.create(
            project=args.project,
            user=args.user,
            name=args.name,
            budget_usd=args.budget,
            budget_period=args.budget_period or "monthly",
        )
        if args.json:
            _print_json({**key_json(key), "key": secret})
        else:
            print_created(_console(), secret, key)
        return 0

    return _with_store(create)


def print_created(console: Console, secret: str, key: KeyInfo) -> None:
    from rich.text import Text

    console.print(Text(f"Created {key.id} ({_who(key)}):"))
    console.print()
    console.print(Text(f"  {secret}", style="bold"))
    console.print()
    console.print(
        Text("Store it now: it cannot be shown again (only its hash is kept).", style="yellow")
    )
    console.print()
    console.print("Use it with `tokenomy serve`:")
    lines = (
        ("OpenAI SDK", f"OPENAI_API_KEY={secret} OPENAI_BASE_URL={GATEWAY_URL}/v1"),
        ("Anthropic SDK", f"ANTHROPIC_API_KEY={secret} ANTHROPIC_BASE_URL={GATEWAY_URL}"),
        ("Claude Code", f"ANTHROPIC_AUTH_TOKEN={secret} ANTHROPIC_BASE_URL={GATEWAY_URL}"),
    )
    for label, line in lines:
        console.print(Text(f"  {label + ':':<15}{line}"))


def cmd_keys_list(args: argparse.Namespace) -> int:
    """List virtual keys (their ids and first characters, never the secrets)."""

    def show(store: KeyStore) -> int:
        keys = store.list(include_revoked=args.all)
        if args.json:
            _print_json({"keys": [key_json(k) for k in keys]})
        else:
            print_keys(_console(), keys, show_revoked=args.all)
        return 0

    return _with_store(show)


def print_keys(console: Console, keys: list[KeyInfo], *, show_revoked: bool) -> None:
    """Active keys in one table; with ``--all``, revoked keys in a second one that has when
    they were revoked instead of their budget (one table with both was 88 columns wide)."""
    active = [k for k in keys if k.revoked_at_ms is None]
    revoked = [k for k in keys if k.revoked_at_ms is not None] if show_revoked else []
    if active:
        _print_table(console, "Virtual keys", active, revoked=False)
    else:
        console.print(
            "No active keys. Create one with `tokenomy keys create --project P --user U`. "
            "(A gateway that never had a key serves loopback only; once one was created, "
            "every request needs an active key.)"
        )
    if revoked:
        _print_table(console, "Revoked keys", revoked, revoked=True)


def _print_table(console: Console, title: str, keys: list[KeyInfo], *, revoked: bool) -> None:
    from rich import box
    from rich.text import Text

    from tokenomy.cli.render import TABLE_OVERHEAD_PER_COLUMN, SafeTable, fit, share

    table = SafeTable(
        title=title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
        collapse_padding=True,
        pad_edge=False,
    )
    rows = [_row(k, revoked=revoked) for k in keys]
    heads = ["ID", "Key", "Name", "Project", "User"]
    heads += ["Created", "Revoked"] if revoked else ["Budget", "Created"]
    widest = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(heads)]
    # The id is what `revoke` takes and the prefix is how a key is recognised: they, the
    # budget and the dates keep their width; name, project and user share what is left,
    # cut in their middle.
    free = [i for i, h in enumerate(heads) if h in ("Name", "Project", "User")]
    fixed = sum(w for i, w in enumerate(widest) if i not in free)
    room = console.width - fixed - TABLE_OVERHEAD_PER_COLUMN * len(heads)
    shares = share([widest[i] for i in free], room)
    widths = list(widest)
    for i, width in zip(free, shares, strict=True):
        widths[i] = width
    for head, width in zip(heads, widths, strict=True):
        table.add_column(head, no_wrap=True, overflow="ellipsis", min_width=width, max_width=width)
    for row in rows:
        # Names are literal text, not markup.
        table.add_row(*(Text(fit(cell, width)) for cell, width in zip(row, widths, strict=True)))
    console.print(table)


def _row(k: KeyInfo, *, revoked: bool) -> list[str]:
    row = [k.id, k.display_prefix, k.name or "", k.project or "", k.user or ""]
    created = iso_utc(k.created_at_ms)[:10]
    if revoked:
        return [*row, created, iso_utc(k.revoked_at_ms)[:10] if k.revoked_at_ms else ""]
    budget = k.budget_usd
    if budget is None:
        return [*row, "", created]
    # Whole dollars without cents ($50/month): budgets are mostly round, and the three
    # characters let name, project and user show whole in 80 columns.
    amount = f"${budget:,.0f}" if budget == budget.to_integral_value() else usd(budget)
    return [*row, f"{amount}/{PERIOD_UNITS.get(k.budget_period or '', '?')}", created]


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    """Revoke a virtual key; the gateway refuses it once it reloads its keys."""
    from rich.text import Text

    def revoke(store: KeyStore) -> int:
        before = store.resolve(args.id)
        key = store.revoke(before.id)
        if args.json:
            _print_json({**key_json(key), "already_revoked": before.revoked})
        elif before.revoked_at_ms is not None:
            _console().print(f"{key.id} was already revoked on {iso_utc(before.revoked_at_ms)}.")
        else:
            _console().print(Text(f"Revoked {key.id} ({key.display_prefix}, {_who(key)})."))
        return 0

    return _with_store(revoke)


def add_keys_parser(sub: Any) -> None:
    """Add ``keys`` and its commands to the top-level sub-parsers."""
    doc = "Manage virtual keys for the gateway."
    keys = sub.add_parser("keys", help=doc, description=doc)
    keys_sub = keys.add_subparsers(title="commands", metavar="COMMAND")
    require_command(keys, keys_sub)

    p = _command(keys_sub, "create", cmd_keys_create)
    p.add_argument("--project", help="project recorded with every call made with the key")
    p.add_argument("--user", help="user recorded with every call made with the key")
    p.add_argument("--name", help="a label to recognise the key by")
    p.add_argument("--budget", type=_usd, metavar="USD", help="spending limit in USD")
    p.add_argument(
        "--budget-period",
        choices=BUDGET_PERIODS,
        help="when the budget starts afresh (default: monthly)",
    )

    p = _command(keys_sub, "list", cmd_keys_list)
    p.add_argument("--all", action="store_true", help="include revoked keys")

    p = _command(keys_sub, "revoke", cmd_keys_revoke)
    p.add_argument("id", metavar="ID", help="key id, the start of it, or the key's tk- prefix")
