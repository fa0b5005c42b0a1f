"""Real Redis where configured (``TOKENOMY_TEST_REDIS_URL``), and budget names no other
test or run shares, whose ledger entries are deleted afterwards.

Each pytest-xdist worker gets a Redis database of its own: key budgets are named after
random key ids, so a test deletes the ``key:*`` entries that appeared while it ran, which
on a shared database would include those of a test running beside it on another worker
(seen as "never settled: None")."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest


def _worker_database(url: str) -> str:
    """``url`` with database 1 + the worker's number (of Redis's 16), or as it is when
    pytest runs in one process."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not url or not worker.startswith("gw"):
        return url
    return urlsplit(url)._replace(path=f"/{1 + int(worker[2:]) % 15}").geturl()


REDIS_URL = _worker_database(os.environ.get("TOKENOMY_TEST_REDIS_URL", ""))
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1


@pytest.fixture
def redis_url() -> Iterator[str]:
    if not REDIS_URL:
        pytest.skip("TOKENOMY_TEST_REDIS_URL is not set (Redis tests run where Redis runs)")
    yield REDIS_URL


@pytest.fixture(autouse=True)
def _forget_key_budgets() -> Iterator[None]:
    """Key budgets are named after random key ids: delete the entries a test made."""
    if not REDIS_URL:
        yield
        return
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    pattern = "tokenomy:{budgets}:key:*"
    try:
        before = set(client.scan_iter(match=pattern))
        yield
        made = set(client.scan_iter(match=pattern)) - before
        if made:
            client.delete(*made)
    finally:
        client.close()


@pytest.fixture
def tag() -> Iterator[str]:
    """A suffix for budget names; their Redis entries go when the test ends."""
    suffix = uuid.uuid4().hex[:10]
    yield suffix
    if REDIS_URL:
        import redis

        client = redis.Redis.from_url(REDIS_URL)
        try:
            keys = list(client.scan_iter(match=f"tokenomy:{{budgets}}:*{suffix}*"))
            if keys:
                client.delete(*keys)
        finally:
            client.close()
