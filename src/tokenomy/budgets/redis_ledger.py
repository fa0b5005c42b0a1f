"""The ledger in Redis, shared by every gateway replica.

Each budget and period is one hash, ``tokenomy:{budgets}:<name>:<period id>``, with the
fields ``spent`` and ``reserved`` (integer nano-dollars), ``seeded_at`` (when the spend
it was seeded with was read from the database, ms), ``r:<ticket>`` for each reservation
held (its estimate) and ``alert:<per mille>`` for thresholds already announced. Reserving
and settling are each one Lua script, which Redis runs with nothing else interleaved: a
check and the reservation it allows can never be split by another replica's call. The
``{budgets}`` hash tag puts every entry in one cluster slot, which a script touching
several budgets needs on Redis Cluster.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tokenomy.budgets.ledger import (
    Admitted,
    Balance,
    Claim,
    Crossing,
    LedgerUnavailableError,
    Refused,
    ReserveResult,
    Settlement,
    Unseeded,
)

# KEYS: one hash per claim. ARGV: estimate, ticket, then (limit, hard, expire_at_ms) per
# claim.
# Returns {0, spent...} (reserved), {1, index, spent, reserved} (refused, 1-based index)
# or {2, index...} (entries whose spend is not known yet: nothing reserved).
RESERVE = """
local estimate = tonumber(ARGV[1])
local missing = {}
for i, key in ipairs(KEYS) do
  if redis.call('HEXISTS', key, 'spent') == 0 then missing[#missing + 1] = i end
end
if #missing > 0 then
  table.insert(missing, 1, 2)
  return missing
end
local spent = {}
for i, key in ipairs(KEYS) do
  local base = 3 + (i - 1) * 3
  local values = redis.call('HMGET', key, 'spent', 'reserved')
  spent[i] = tonumber(values[1])
  local reserved = tonumber(values[2] or '0')
  if ARGV[base + 1] == '1' and spent[i] + reserved + estimate > tonumber(ARGV[base]) then
    return {1, i, spent[i], reserved}
  end
end
for i, key in ipairs(KEYS) do
  redis.call('HINCRBY', key, 'reserved', ARGV[1])
  redis.call('HSET', key, 'r:' .. ARGV[2], ARGV[1])
  redis.call('PEXPIREAT', key, ARGV[3 + (i - 1) * 3 + 2])
end
table.insert(spent, 1, 0)
return spent
"""

# KEYS: one hash per claim. ARGV: ticket, actual, counted_before_ms, then per claim:
# expire_at_ms, the number of thresholds n, and n pairs (per mille, amount). An entry that
# vanished since the reservation is left alone: the next call seeds it from the database,
# which has this call too. The reservation given back is the one the ticket holds on the
# entry (none: the call was served unchecked, or the entry was seeded again since; then
# its cost counts only if the seed was read before counted_before_ms, ledger.py).
# Returns flat triples (1-based claim index, per mille, spent) of thresholds crossed now,
# each reported once per period whichever replica crosses it.
SETTLE = """
local crossed = {}
local p = 4
for i, key in ipairs(KEYS) do
  local expire_at = ARGV[p]
  local n = tonumber(ARGV[p + 1])
  p = p + 2
  local counts = redis.call('HEXISTS', key, 'spent') == 1
  if counts then
    local held = redis.call('HGET', key, 'r:' .. ARGV[1])
    if held then
      redis.call('HDEL', key, 'r:' .. ARGV[1])
      if held ~= '0' then redis.call('HINCRBY', key, 'reserved', '-' .. held) end
    else
      local seeded_at = redis.call('HGET', key, 'seeded_at')
      counts = seeded_at == false or tonumber(seeded_at) < tonumber(ARGV[3])
    end
  end
  if counts then
    local spent = redis.call('HINCRBY', key, 'spent', ARGV[2])
    redis.call('PEXPIREAT', key, expire_at)
    for j = 0, n - 1 do
      local mark = ARGV[p + 2 * j]
      if spent >= tonumber(ARGV[p + 2 * j + 1])
        and redis.call('HSETNX', key, 'alert:' .. mark, 1) == 1 then
        crossed[#crossed + 1] = i
        crossed[#crossed + 1] = tonumber(mark)
        crossed[#crossed + 1] = spent
      end
    end
  end
  p = p + 2 * n
end
return crossed
"""

# Set only if absent: two replicas seeding the same period at once count it once.
SEED = """
if redis.call('HSETNX', KEYS[1], 'spent', ARGV[1]) == 1 then
  redis.call('HSET', KEYS[1], 'seeded_at', ARGV[3])
  redis.call('PEXPIREAT', KEYS[1], ARGV[2])
end
return 0
"""

CONNECT_TIMEOUT = 1.0  # seconds: an unreachable Redis must fail a call fast, not hang it
COMMAND_TIMEOUT = 2.0


class RedisLedger:
    shared: bool = True

    def __init__(self, url: str) -> None:
        import redis.asyncio
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        self.url = url
        # No retries here: whether to serve without budgets is the caller's decision.
        self._redis: Any = redis.asyncio.Redis.from_url(
            url,
            socket_connect_timeout=CONNECT_TIMEOUT,
            socket_timeout=COMMAND_TIMEOUT,
            retry=Retry(NoBackoff(), 0),
        )
        self._reserve = self._redis.register_script(RESERVE)
        self._settle = self._redis.register_script(SETTLE)
        self._seed = self._redis.register_script(SEED)

    async def reserve(self, claims: Sequence[Claim], estimate: int, ticket: str) -> ReserveResult:
        args: list[int | str] = [estimate, ticket]
        for claim in claims:
            args += [claim.budget.limit_nanos, int(claim.budget.hard), claim.expire_at_ms]
        reply = await self._run(self._reserve, [c.key for c in claims], args)
        kind, rest = int(reply[0]), [int(v) for v in reply[1:]]
        if kind == 0:
            return Admitted(tuple(rest))
        if kind == 1:
            return Refused(rest[0] - 1, rest[1], rest[2])
        return Unseeded(tuple(i - 1 for i in rest))

    async def seed(self, claim: Claim, spent: int, read_at_ms: int) -> None:
        await self._run(self._seed, [claim.key], [spent, claim.expire_at_ms, read_at_ms])

    async def settle(self, claims: Sequence[Claim], settlement: Settlement) -> list[Crossing]:
        # Amounts go to HINCRBY as the strings given: Lua would print a large number
        # as 1e+15, which HINCRBY refuses.
        args: list[int | str] = [
            settlement.ticket,
            settlement.actual,
            settlement.counted_before_ms,
        ]
        for claim in claims:
            thresholds = claim.budget.thresholds()
            args += [claim.expire_at_ms, len(thresholds)]
            for permille, amount in thresholds:
                args += [permille, amount]
        reply = await self._run(self._settle, [c.key for c in claims], args)
        values = [int(v) for v in reply]
        return [
            Crossing(claims[values[i] - 1], values[i + 1], values[i + 2])
            for i in range(0, len(values), 3)
        ]

    async def balance(self, claim: Claim) -> Balance | None:
        try:
            spent, reserved = await self._redis.hmget(claim.key, "spent", "reserved")
        except Exception as exc:
            raise _unavailable(exc) from exc
        if spent is None:
            return None
        return Balance(int(spent), int(reserved or 0))

    async def close(self) -> None:
        await self._redis.aclose()

    async def _run(self, script: Any, keys: list[str], args: list[int | str]) -> Any:
        try:
            return await script(keys=keys, args=args)
        except Exception as exc:
            raise _unavailable(exc) from exc


def _unavailable(exc: Exception) -> LedgerUnavailableError:
    import redis.exceptions

    if isinstance(exc, redis.exceptions.ResponseError):
        # A script error is a bug, not an outage: say so rather than fail open quietly.
        return LedgerUnavailableError(f"Redis refused the budget script: {exc}")
    return LedgerUnavailableError(f"{type(exc).__name__}: {exc}")
