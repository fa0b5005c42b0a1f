"""Virtual keys for the gateway: secrets handed to clients, stored only as hashes.

A key names who is calling (project, user) and may carry a budget (stored here, enforced
later). :class:`KeyStore` manages keys in the database; :class:`KeyRing` is the gateway's
in-memory copy, so checking a request's key never touches the database.
"""

from __future__ import annotations

import base64
import builtins
import hashlib
import secrets
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tokenomy.record import NANOS_PER_USD
from tokenomy.store.db import Database

KEY_MARKER = "tk-"
SECRET_BYTES = 30  # 240 bits of randomness; 40 URL-safe base64 characters
PREFIX_CHARS = 8  # shown in lists so a person can tell keys apart
ID_MARKER = "key_"
BUDGET_PERIODS = ("daily", "monthly")

_COLUMNS = 'id, prefix, name, project, "user", budget_nanos, budget_period, created_at, revoked_at'


class KeyStoreError(ValueError):
    """A key operation that cannot be done; the message says why."""


class UnknownKeyError(KeyStoreError):
    """No key has this id or prefix."""


class AmbiguousKeyError(KeyStoreError):
    """More than one key matches; a longer id or prefix is needed."""


def generate_key() -> str:
    """A new secret: ``tk-`` and 40 URL-safe characters from the OS's secure generator."""
    return KEY_MARKER + secrets.token_urlsafe(SECRET_BYTES)


def hash_key(secret: str) -> str:
    """SHA-256 of the secret, hex.

    A slow password hash (bcrypt, argon2) protects guessable passwords; these secrets are 240
    random bits, beyond any brute force, so it would buy nothing while costing every gateway
    request milliseconds of CPU. A plain hash still means a leaked database leaks no key.
    """
    return hashlib.sha256(secret.encode()).hexdigest()


def _new_id() -> str:
    # 60 random bits in lower-case base32: short enough to type, and collisions among a
    # deployment's keys are out of reach.
    return ID_MARKER + base64.b32encode(secrets.token_bytes(8)).decode()[:12].lower()


def budget_nanos(budget_usd: Decimal | None) -> int | None:
    """A budget in dollars as exact integer nano-dollars (the unit of ``calls.cost_nanos``)."""
    if budget_usd is None:
        return None
    if not budget_usd.is_finite() or budget_usd < 0:
        raise KeyStoreError(f"budget must be zero or more USD, not {budget_usd}")
    nanos = budget_usd * NANOS_PER_USD
    if nanos != nanos.to_integral_value():
        raise KeyStoreError(f"budget {budget_usd} is finer than a billionth of a dollar")
    return int(nanos)


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """A key as stored: everything but the secret, which is never kept."""

    id: str
    prefix: str
    name: str | None
    project: str | None
    user: str | None
    budget_nanos: int | None
    budget_period: str | None
    created_at_ms: int
    revoked_at_ms: int | None

    @property
    def revoked(self) -> bool:
        return self.revoked_at_ms is not None

    @property
    def reads(self) -> dict[str, str]:
        """What the key may read of the analytics: the calls of its project and user (a
        team's key sees its own spend, never another team's prompts); empty for a key
        tied to neither, which reads everything (docs/keys.md, "What a key can read")."""
        return {k: v for k, v in (("project", self.project), ("user", self.user)) if v}

    @property
    def budget_usd(self) -> Decimal | None:
        return None if self.budget_nanos is None else Decimal(self.budget_nanos) / NANOS_PER_USD

    @property
    def display_prefix(self) -> str:
        """How the key starts, e.g. ``tk-AbC123xY…``: enough to recognise, useless to use."""
        return f"{KEY_MARKER}{self.prefix}…"

    @classmethod
    def from_row(cls, row: Iterable[Any]) -> KeyInfo:
        return cls(*row)


class KeyStore:
    """Keys in the database: create, list, revoke, find."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def create(
        self,
        project: str | None = None,
        user: str | None = None,
        name: str | None = None,
        budget_usd: Decimal | None = None,
        budget_period: str = "monthly",
    ) -> tuple[str, KeyInfo]:
        """A new key. The secret is returned here once and is not stored anywhere."""
        if budget_period not in BUDGET_PERIODS:
            raise KeyStoreError(
                f"budget period {budget_period!r} is not one of {', '.join(BUDGET_PERIODS)}"
            )
        nanos = budget_nanos(budget_usd)
        secret = generate_key()
        info = KeyInfo(
            id=_new_id(),
            prefix=secret[len(KEY_MARKER) : len(KEY_MARKER) + PREFIX_CHARS],
            name=name,
            project=project,
            user=user,
            budget_nanos=nanos,
            # A period means nothing without an amount, so none is stored.
            budget_period=budget_period if nanos is not None else None,
            created_at_ms=int(time.time() * 1000),
            revoked_at_ms=None,
        )
        with self.db.transaction() as cur:
            cur.execute(
                self.db.sql(
                    f"INSERT INTO api_keys (key_hash, {_COLUMNS}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                ),
                (
                    hash_key(secret),
                    info.id,
                    info.prefix,
                    info.name,
                    info.project,
                    info.user,
                    info.budget_nanos,
                    info.budget_period,
                    info.created_at_ms,
                    info.revoked_at_ms,
                ),
            )
        return secret, info

    # ``builtins.list`` below: inside this class, ``list`` is the method.
    def list(self, include_revoked: bool = False) -> builtins.list[KeyInfo]:
        """Keys, oldest first (by id within a millisecond); revoked ones only when asked."""
        where = "" if include_revoked else " WHERE revoked_at IS NULL"
        rows = self.db.query(f"SELECT {_COLUMNS} FROM api_keys{where} ORDER BY created_at, id")
        return [KeyInfo.from_row(r) for r in rows]

    def count_active(self) -> int:
        rows = self.db.query("SELECT COUNT(*) FROM api_keys WHERE revoked_at IS NULL")
        return int(rows[0][0])

    def find(self, secret: str) -> KeyInfo | None:
        """The active key with this secret, or None (unknown or revoked)."""
        rows = self.db.query(
            f"SELECT {_COLUMNS} FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL",
            (hash_key(secret),),
        )
        return KeyInfo.from_row(rows[0]) if rows else None

    def resolve(self, id_or_prefix: str) -> KeyInfo:
        """The one key named by its id, the start of its id, its shown prefix (with or
        without ``tk-``) or its secret. Raises if none or several match."""
        text = id_or_prefix.strip().rstrip("…")
        if not text:
            raise UnknownKeyError("no key id given")
        prefix = text.removeprefix(KEY_MARKER)
        rows = self.db.query(
            f"SELECT {_COLUMNS} FROM api_keys "
            "WHERE id = ? OR key_hash = ? OR substr(id, 1, length(?)) = ? OR prefix = ? "
            "ORDER BY created_at, id",
            (text, hash_key(text), text, text, prefix),
        )
        keys = [KeyInfo.from_row(r) for r in rows]
        exact = [k for k in keys if k.id == text]
        if exact:
            return exact[0]
        if not keys:
            raise UnknownKeyError(
                f"no key matches {text!r}: `tokenomy keys list --all` shows every key"
            )
        if len(keys) > 1:
            ids = ", ".join(k.id for k in keys)
            raise AmbiguousKeyError(f"{text!r} matches {len(keys)} keys ({ids}): give the full id")
        return keys[0]

    def revoke(self, id_or_prefix: str) -> KeyInfo:
        """Revoke a key (see :meth:`resolve` for how it is named) and return it as stored.
        Revoking a revoked key changes nothing, so a repeated command is harmless."""
        key = self.resolve(id_or_prefix)
        if key.revoked:
            return key
        now = int(time.time() * 1000)
        with self.db.transaction() as cur:
            cur.execute(
                self.db.sql(
                    "UPDATE api_keys SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL"
                ),
                (now, key.id),
            )
        return self.resolve(key.id)


@dataclass(frozen=True, slots=True)
class _Snapshot:
    active: Mapping[str, KeyInfo]  # key hash -> key
    revoked: frozenset[str]  # key hashes


class KeyRing:
    """The gateway's copy of the keys, in memory: a request's key is checked with one hash
    and one dict access, never a database round trip on the event loop.

    :meth:`reload` builds a new snapshot and swaps it in with a single assignment, so it can
    run in a worker thread while the event loop keeps reading the old one.
    """

    def __init__(
        self, active: Mapping[str, KeyInfo] | None = None, revoked: Iterable[str] = ()
    ) -> None:
        self._snapshot = _Snapshot(dict(active or {}), frozenset(revoked))

    @classmethod
    def load(cls, db: Database) -> KeyRing:
        ring = cls()
        ring.reload(db)
        return ring

    def reload(self, db: Database) -> None:
        """Read every key again (blocking I/O: call it off the event loop)."""
        rows = db.query(f"SELECT key_hash, {_COLUMNS} FROM api_keys")
        active: dict[str, KeyInfo] = {}
        revoked: set[str] = set()
        for row in rows:
            info = KeyInfo.from_row(row[1:])
            if info.revoked:
                revoked.add(row[0])
            else:
                active[row[0]] = info
        self._snapshot = _Snapshot(active, frozenset(revoked))

    def lookup(self, secret: str) -> KeyInfo | None:
        """The active key with this secret, or None. No I/O."""
        if not secret.startswith(KEY_MARKER):
            return None
        return self._snapshot.active.get(hash_key(secret))

    def is_revoked(self, secret: str) -> bool:
        """Whether this secret belongs to a revoked key, so the gateway can say so and
        need not reload on every request that carries it."""
        return secret.startswith(KEY_MARKER) and hash_key(secret) in self._snapshot.revoked

    @property
    def active(self) -> bool:
        """Whether any key is in force (the gateway then requires one on every request)."""
        return bool(self._snapshot.active)

    @property
    def configured(self) -> bool:
        """Whether any key was ever created. Revoking the last key must not open the
        gateway to everyone, so the gateway asks this rather than :attr:`active`."""
        return bool(self._snapshot.active) or bool(self._snapshot.revoked)

    def __len__(self) -> int:
        return len(self._snapshot.active)
