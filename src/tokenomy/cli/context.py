"""What every command needs: paths, the database, prices and time zones, opened lazily."""

from __future__ import annotations

import argparse
import functools
import os
import re
import sys
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, overload
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tokenomy.config import Paths
from tokenomy.pricing import PriceCatalog
from tokenomy.store import Database, open_database


class UsageError(ValueError):
    """A bad option value; the message says what is allowed."""


def has_active_keys(paths: Paths) -> bool:
    """Whether any virtual key exists: then the server asks every request for one."""
    from tokenomy.keys import KeyStore

    db = open_database(paths.database_url)
    try:
        return KeyStore(db).count_active() > 0
    finally:
        db.close()


def has_any_keys(paths: Paths) -> bool:
    """Whether a virtual key was ever created, revoked or not: then the gateway asks every
    request for an active one (as :attr:`tokenomy.keys.KeyRing.configured` decides)."""
    from tokenomy.keys import KeyStore

    db = open_database(paths.database_url)
    try:
        return bool(KeyStore(db).list(include_revoked=True))
    finally:
        db.close()


@dataclass(slots=True)
class Context:
    paths: Paths
    _db: Database | None = field(default=None, repr=False)
    _catalog: PriceCatalog | None = field(default=None, repr=False)

    @property
    def db(self) -> Database:
        if self._db is None:
            self._db = open_database(self.paths.database_url)
        return self._db

    @property
    def catalog(self) -> PriceCatalog:
        if self._catalog is None:
            self._catalog = PriceCatalog.load(
                self.paths.prices_file, cache_dir=self.paths.cache_dir
            )
        return self._catalog

    def close(self) -> None:
        if self._catalog is not None:
            self._catalog.save()
        if self._db is not None:
            self._db.close()


def local_zone() -> ZoneInfo:
    """The machine's time zone as an IANA zone, so DST is handled. UTC where the machine
    names none; where it names one that cannot be looked up (a POSIX rule such as
    ``CET-1CEST,M3.5.0,M10.5.0/3``, a typo), UTC too, but said on stderr, once: days
    counted in UTC unannounced read as the local days they are not."""
    raw = os.environ.get("TZ", "")
    name, origin = raw.lstrip(":"), f"TZ={raw!r}"
    if not name:
        try:
            target = os.path.realpath("/etc/localtime")
            if "zoneinfo/" in target:
                name = target.split("zoneinfo/", 1)[1]
                origin = f"/etc/localtime ({target})"
        except OSError:
            name = ""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError, OSError):
        _warn_unknown_zone(origin)
        return ZoneInfo("UTC")


@functools.cache
def _warn_unknown_zone(origin: str) -> None:
    sys.stderr.write(
        f"warning: the machine's time zone, {origin}, is not an IANA zone name such as "
        "Europe/Berlin; days are counted in UTC. Set TZ to an IANA name or pass "
        "-z/--timezone\n"
    )


def parse_zone(name: str | None) -> ZoneInfo:
    if not name:
        return local_zone()
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise UsageError(
            f"--timezone {name!r} is not a known time zone; use an IANA name such as "
            "UTC, Europe/Berlin or America/New_York"
        ) from exc


_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_COMPACT_DAY = re.compile(r"\d{8}")


def parse_date(value: str | None, option: str) -> date | None:
    if not value:
        return None
    # strptime reads "202611" as 2026-01-01 and "2026-1-5" as a date: only the two full
    # forms are taken, so a short date is refused rather than misread.
    forms = (("%Y-%m-%d", _ISO_DAY), ("%Y%m%d", _COMPACT_DAY))
    for fmt, shape in forms:
        if not shape.fullmatch(value.strip()):
            continue
        try:
            day = datetime.strptime(value.strip(), fmt).date()
        except ValueError:
            continue
        # No call is before 1970 or after 2999 (record.py): --until 9999-12-31 means "no
        # end", and a day past it would not fit a date.
        return min(max(day, date(1970, 1, 1)), date(2999, 12, 31))
    raise UsageError(f"{option} {value!r} is not a date; use YYYY-MM-DD or YYYYMMDD")


def split_values(values: list[str] | None) -> list[str]:
    """Options may repeat or hold comma-separated values."""
    out: list[str] = []
    for v in values or []:
        out.extend(p.strip() for p in v.split(",") if p.strip())
    return out


def parse_sources(values: list[str] | None) -> tuple[str, ...]:
    """``--source`` values, each one a source calls are recorded under (a misspelt one would
    silently match nothing: "no calls in this range")."""
    from tokenomy.record import Source

    known = [str(s) for s in Source]
    picked = tuple(split_values(values))
    for value in picked:
        if value not in known:
            close = [k for k in known if k.startswith(value) or value.startswith(k)]
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise UsageError(f"--source {value!r} is not one of: {', '.join(known)}{hint}")
    return picked


def sources_help() -> str:
    """``--source``'s help: every source calls are recorded under (parse_sources takes)."""
    from tokenomy.record import Source

    return "only these sources (repeatable, or a,b): " + ", ".join(Source)


def existing_paths(values: list[Path] | None) -> list[Path] | None:
    """``--path`` values: folders to walk or single log files, each of which must exist."""
    if not values:
        return None
    missing = [str(p) for p in values if not p.exists()]
    if missing:
        raise UsageError(f"--path: no such file or directory: {', '.join(missing)}")
    return list(values)


def instant_ms(value: str | None, option: str) -> int:
    """An ``--now``-style option as epoch ms (now when not given); a time without a zone is
    local time."""
    import time

    if not value:
        return int(time.time() * 1000)
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"{option} {value!r} is not an ISO 8601 time; e.g. 2026-11-21T08:00 or "
            "2026-11-21T07:00:00Z"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=local_zone())
    return int(moment.timestamp() * 1000)


@overload
def find_config(value: str | None, paths: Paths, *, missing: str) -> Path: ...
@overload
def find_config(value: str | None, paths: Paths, *, missing: None) -> Path | None: ...
def find_config(value: str | None, paths: Paths, *, missing: str | None) -> Path | None:
    """The tokenomy.yaml a command reads: ``--config`` if given (it must exist), else
    ./tokenomy.yaml, then $TOKENOMY_HOME/tokenomy.yaml. With neither, None, or, when
    ``missing`` says what to declare there, a usage error that says so."""
    if value:
        path = Path(value).expanduser()
        if not path.is_file():
            raise UsageError(f"--config: no such file: {path}")
        return path
    for candidate in (Path("tokenomy.yaml"), paths.home / "tokenomy.yaml"):
        if candidate.is_file():
            return candidate
    if missing is not None:
        raise UsageError(f"no tokenomy.yaml here or in {paths.home}, and no --config: {missing}")
    return None


def require_command(group: argparse.ArgumentParser, commands: Any) -> None:
    """``tokenomy GROUP`` alone (prices, keys...) is a usage error of that group: its own
    usage and its commands, on stderr, exit 2 (it printed the top-level help). A command's
    own ``func`` replaces this one."""

    def missing(args: argparse.Namespace) -> int:
        group.error(f"choose a command: {', '.join(commands.choices)}")

    group.set_defaults(func=missing)


class ShowVersion(argparse.Action):
    """``tokenomy --version``: the installed package's version, looked up only when asked
    (reading the package metadata would add to every other command's start-up time)."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        kwargs.setdefault("help", "print the version and exit")
        super().__init__(option_strings, dest=argparse.SUPPRESS, nargs=0, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        from tokenomy.cli.report_cmd import tokenomy_version

        sys.stdout.write(f"tokenomy {tokenomy_version() or '(version unknown)'}\n")
        parser.exit()


def port_number(text: str) -> int:
    """argparse type for ``--port``: 1 to 65535. The socket layer takes a larger number
    modulo 65536, so ``--port 83656`` served on 18120 while the URL printed said 83656."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (1-65535)") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port number (1-65535)")
    return value


def at_least_one(text: str) -> int:
    """argparse type for a count such as ``--workers``: a whole number, 1 or more."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value}: must be at least 1")
    return value


def add_config_and_now(parser: argparse.ArgumentParser, section: str, *, now: bool = True) -> None:
    """``--config FILE`` (the tokenomy.yaml with ``section``, found as :func:`find_config`
    does) and, with ``now``, ``--now TIME`` for commands that act on the clock."""
    parser.add_argument(
        "--config",
        metavar="FILE",
        help=f"the file with `{section}:` (default: ./tokenomy.yaml, then "
        "$TOKENOMY_HOME/tokenomy.yaml)",
    )
    if now:
        parser.add_argument(
            "--now",
            metavar="TIME",
            help="act as if it were this ISO 8601 time (local if it has no offset)",
        )


def add_day_range_options(parser: argparse.ArgumentParser) -> None:
    """``--since``, ``--until``, ``-z/--timezone`` and ``-p/--project``: the days and projects
    a report or advice covers (read back with parse_date, parse_zone, split_values)."""
    parser.add_argument("--since", metavar="DATE", help="first day (YYYY-MM-DD or YYYYMMDD)")
    parser.add_argument("--until", metavar="DATE", help="last day, inclusive")
    parser.add_argument(
        "-z", "--timezone", metavar="ZONE", help="IANA time zone for days (default: local)"
    )
    parser.add_argument(
        "-p", "--project", action="append", help="only these projects (repeatable, or a,b)"
    )
