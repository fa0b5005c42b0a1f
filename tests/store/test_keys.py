"""Virtual keys in the store and the gateway's in-memory key ring, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import re
from decimal import Decimal

import pytest

from tokenomy.keys import (
    AmbiguousKeyError,
    KeyRing,
    KeyStore,
    KeyStoreError,
    UnknownKeyError,
    generate_key,
    hash_key,
)
from tokenomy.store import Database

SECRET_SHAPE = re.compile(r"tk-[A-Za-z0-9_-]{40}")


def _stored_values(db: Database) -> list[object]:
    return [value for row in db.query("SELECT * FROM api_keys") for value in row]


def test_generated_secrets_have_the_documented_shape_and_differ() -> None:
    secrets = {generate_key() for _ in range(100)}
    assert len(secrets) == 100
    assert all(SECRET_SHAPE.fullmatch(s) for s in secrets)


def test_create_stores_the_hash_and_never_the_secret(db: Database) -> None:
    secret, key = KeyStore(db).create(project="web", user="ana", name="laptop")
    assert SECRET_SHAPE.fullmatch(secret)
    assert re.fullmatch(r"key_[a-z2-7]{12}", key.id)
    assert key.prefix == secret[3:11]
    values = [str(v) for v in _stored_values(db)]
    assert hashlib.sha256(secret.encode()).hexdigest() in values
    # Neither the secret nor its random part appears in any column, whole or beyond the
    # 8-character prefix that is kept on purpose.
    assert not [v for v in values if secret[3:12] in v or secret in v]
    assert (key.project, key.user, key.name, key.revoked_at_ms) == ("web", "ana", "laptop", None)


def test_budget_is_stored_exactly_in_nanos(db: Database) -> None:
    store = KeyStore(db)
    _, key = store.create(budget_usd=Decimal("12.345678901"), budget_period="daily")
    (stored,) = store.list()
    assert stored == key
    assert stored.budget_nanos == 12_345_678_901
    assert stored.budget_usd == Decimal("12.345678901")
    assert stored.budget_period == "daily"
    _, plain = store.create(project="no-budget")
    assert (plain.budget_nanos, plain.budget_period) == (None, None)


@pytest.mark.parametrize(
    ("budget", "period", "message"),
    [
        (Decimal("0.0000000001"), "monthly", "finer than a billionth"),
        (Decimal("-1"), "monthly", "zero or more"),
        (Decimal("NaN"), "monthly", "zero or more"),
        (Decimal("5"), "weekly", "not one of daily, monthly"),
    ],
)
def test_bad_budgets_are_refused_and_nothing_is_stored(
    db: Database, budget: Decimal, period: str, message: str
) -> None:
    with pytest.raises(KeyStoreError, match=message):
        KeyStore(db).create(budget_usd=budget, budget_period=period)
    assert db.query("SELECT COUNT(*) FROM api_keys")[0][0] == 0


def test_list_find_and_count_follow_revocation(db: Database) -> None:
    store = KeyStore(db)
    first_secret, first = store.create(project="a")
    second_secret, second = store.create(project="b")
    listed = store.list()
    assert {k.id for k in listed} == {first.id, second.id}
    assert listed == sorted(listed, key=lambda k: (k.created_at_ms, k.id))  # oldest first
    assert store.count_active() == 2
    assert store.find(first_secret) == first
    assert store.find(first_secret + "x") is None

    revoked = store.revoke(first.id)
    assert revoked.revoked_at_ms is not None
    assert revoked.revoked_at_ms >= first.created_at_ms
    assert store.find(first_secret) is None
    assert store.find(second_secret) == second
    assert [k.id for k in store.list()] == [second.id]
    assert {k.id for k in store.list(include_revoked=True)} == {first.id, second.id}
    assert store.count_active() == 1


def test_revoke_accepts_id_start_prefix_or_secret(db: Database) -> None:
    store = KeyStore(db)
    keys = [store.create(project=str(i)) for i in range(4)]
    (s0, k0), (_, k1), (_, k2), (s3, k3) = keys
    assert store.revoke(k0.id[:9]).id == k0.id
    assert store.revoke(f"tk-{k1.prefix}").id == k1.id
    assert store.revoke(k2.display_prefix).id == k2.id  # as shown in lists, with the ellipsis
    assert store.revoke(s3).id == k3.id
    assert store.count_active() == 0
    assert store.find(s0) is None


def test_revoke_twice_keeps_the_first_time(db: Database) -> None:
    store = KeyStore(db)
    _, key = store.create()
    first = store.revoke(key.id)
    assert store.revoke(key.id) == first


def test_revoke_unknown_or_ambiguous_is_a_clear_error(db: Database) -> None:
    store = KeyStore(db)
    _, a = store.create()
    _, b = store.create()
    with pytest.raises(UnknownKeyError, match="no key matches 'key_nothing'"):
        store.revoke("key_nothing")
    with pytest.raises(UnknownKeyError):
        store.revoke("  ")
    with pytest.raises(AmbiguousKeyError, match="matches 2 keys") as err:
        store.revoke("key_")
    assert a.id in str(err.value) and b.id in str(err.value)
    assert store.count_active() == 2


def test_ring_looks_up_active_keys_and_reloads(db: Database) -> None:
    store = KeyStore(db)
    assert not KeyRing.load(db).active

    secret, key = store.create(project="web", user="ana")
    ring = KeyRing.load(db)
    assert ring.active
    assert len(ring) == 1
    assert ring.lookup(secret) == key
    assert ring.lookup("tk-" + "A" * 40) is None
    assert ring.lookup("sk-not-ours") is None

    later_secret, later = store.create(project="ci")
    store.revoke(key.id)
    # Until it reloads, the ring answers from what it read: no I/O on lookup.
    assert ring.lookup(secret) == key
    assert ring.lookup(later_secret) is None

    ring.reload(db)
    assert ring.lookup(secret) is None
    assert ring.is_revoked(secret)
    assert not ring.is_revoked(later_secret)
    assert ring.lookup(later_secret) == later
    store.revoke(later.id)
    ring.reload(db)
    assert not ring.active


def test_hash_is_sha256_hex_of_the_whole_secret() -> None:
    secret = generate_key()
    assert hash_key(secret) == hashlib.sha256(secret.encode()).hexdigest()
    assert hash_key(secret) != hash_key(secret[3:])
