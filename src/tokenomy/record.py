"""The call record: one wide, immutable row per LLM call or agent run.

Names follow the OpenTelemetry GenAI conventions. Token categories are disjoint: each
token is counted in exactly one of input, cache read, cache write (5 min), cache write
(1 h) and output; ``reasoning_tokens`` is the part of ``output_tokens`` spent thinking.
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

# Costs are stored as integer nano-dollars: exact for sums (no float drift) and wide
# enough (int64) for $9.2 billion, where pico-dollars would overflow SQLite's SUM at $9.2M.
NANOS_PER_USD = 1_000_000_000

# What one call can plausibly hold. Importers refuse values beyond these (naming the line),
# so a typo or a unit mix-up never reaches the store: the stored integers and their sums
# over millions of calls stay inside int64 (SQLite's SUM fails past it), and every time
# stays a date the reports can show in any time zone.
MAX_TOKENS = 10**12  # per category and call
MAX_MILLIS = 10**12  # a duration: about 31 years
MAX_COST_NANOS = 10**6 * NANOS_PER_USD  # $1,000,000 for one call
MAX_BUDGET_NANOS = 10**9 * NANOS_PER_USD  # $1,000,000,000: a budget, in int64 with room
EARLIEST_MS = 0  # 1970-01-01T00:00:00Z
LATEST_MS = 32_503_680_000_000  # 3000-01-01T00:00:00Z


def time_in_range(ms: int) -> bool:
    """Whether ``ms`` (UTC milliseconds since the epoch) is a time a call can have."""
    return EARLIEST_MS <= ms < LATEST_MS


class Source(StrEnum):
    GATEWAY = "gateway"
    SDK = "sdk"
    CLAUDE_CODE = "claude-code"
    CODEX = "codex"
    GEMINI_CLI = "gemini-cli"
    RUNNER = "runner"
    OTLP = "otlp"
    CSV = "csv"


class CostSource(StrEnum):
    COMPUTED = "computed"
    REPORTED = "reported"
    UNKNOWN = "unknown"


class Status(StrEnum):
    OK = "ok"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class TokenUsage:
    """Token counts in disjoint categories; the total is their sum."""

    input_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cache_write_1h_tokens: int = 0
    output_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def total(self) -> int:
        return (
            self.input_tokens
            + self.cache_read_tokens
            + self.cache_write_tokens
            + self.cache_write_1h_tokens
            + self.output_tokens
        )

    @property
    def prompt_side(self) -> int:
        """Everything the model read: what OpenTelemetry calls ``gen_ai.usage.input_tokens``."""
        return (
            self.input_tokens
            + self.cache_read_tokens
            + self.cache_write_tokens
            + self.cache_write_1h_tokens
        )

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            self.input_tokens + other.input_tokens,
            self.cache_read_tokens + other.cache_read_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
            self.cache_write_1h_tokens + other.cache_write_1h_tokens,
            self.output_tokens + other.output_tokens,
            self.reasoning_tokens + other.reasoning_tokens,
        )


# The token categories, in TokenUsage's order: the names of the calls table's columns too.
TOKEN_FIELDS: tuple[str, ...] = (
    "input_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cache_write_1h_tokens",
    "output_tokens",
    "reasoning_tokens",
)


@dataclass(frozen=True, slots=True)
class ToolUse:
    """One tool call the model made. ``use_id`` is the provider's id (e.g. ``toolu_...``)."""

    name: str
    use_id: str


@dataclass(frozen=True, slots=True)
class CallContent:
    """What was asked and answered, as sent on the wire (JSON or event-stream text)."""

    request: str | None
    response: str | None


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# Every pair of base32 digits, so a 130-bit ULID is 13 table lookups (the stdlib's base32
# encoder is pure Python and several times slower).
_PAIRS = tuple(a + b for a in _CROCKFORD for b in _CROCKFORD)
_SHIFTS = tuple(range(120, -1, -10))
_random = random.Random(int.from_bytes(os.urandom(16), "big"))
# A forked worker would otherwise repeat its parent's sequence, and mint the same ids.
os.register_at_fork(after_in_child=lambda: _random.seed(int.from_bytes(os.urandom(16), "big")))


def new_ulid(at_ms: int | None = None) -> str:
    """A ULID: 48-bit millisecond time + 80 random bits, Crockford base32, sortable by time.

    Ids only need to be unique and sortable, not secret, so the random part comes from a
    seeded PRNG: about a microsecond instead of a system call per id.
    """
    ms = int(time.time() * 1000) if at_ms is None else max(0, at_ms)
    value = ((ms & 0xFFFFFFFFFFFF) << 80) | _random.getrandbits(80)
    return "".join([_PAIRS[(value >> s) & 1023] for s in _SHIFTS])


# The attribute that says how a call was served when that changes its price (fast mode,
# a service tier), as the price catalog takes it: ``speed=fast``, ``service_tier=flex``.
PRICE_VARIANT = "price_variant"
# The attribute that counts the provider's own web searches a call made (billed per search,
# apart from tokens: Anthropic's ``usage.server_tool_use.web_search_requests``).
WEB_SEARCHES = "web_search_requests"


@dataclass(slots=True)
class CallRecord:
    """One call. ``started_at_ms`` is UTC milliseconds since the epoch."""

    source: str
    dedupe_key: str
    started_at_ms: int
    usage: TokenUsage = field(default_factory=TokenUsage)
    # A ULID; empty until written (the writer assigns one), since most imported copies of a
    # call are dropped as duplicates before then.
    id: str = ""
    duration_ms: int | None = None
    ttft_ms: int | None = None
    operation: str = "chat"
    provider: str | None = None
    request_model: str | None = None
    response_model: str | None = None
    project: str | None = None
    # The directory ``project`` was named after (agent logs, runs): the writer makes the
    # name unique per directory (store/project_names.py). Not a column of its own.
    project_path: str | None = None
    user: str | None = None
    api_key_id: str | None = None
    org: str | None = None
    session_id: str | None = None
    trace_id: str | None = None
    parent_id: str | None = None
    # None means "not known": never silently 0. Set by pricing or by the source.
    cost_nanos: int | None = None
    cost_source: str = CostSource.UNKNOWN
    status: str = Status.OK
    error_type: str | None = None
    http_status: int | None = None
    finish_reason: str | None = None
    cache_hit: str = "none"
    routed_from: str | None = None
    route_policy: str | None = None
    variant: str | None = None
    prompt_hash: str | None = None
    prefix_hash: str | None = None
    # Tool calls made in this call, one entry per use (MCP names: mcp__server__tool).
    tools: list[ToolUse] = field(default_factory=list)
    # Prompt and response text: only with content capture on (stored in its own table).
    content: CallContent | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    # Source-defined preference among versions of the same (source, dedupe_key): a higher
    # rank wins, then the larger token total (streaming partials grow), then the lower
    # order (Claude Code: the session file that ended first, i.e. the original rather than
    # a resumed copy); on a full tie the stored version stays.
    dedupe_rank: int = 0
    dedupe_order: int = 0

    @property
    def cost_usd(self) -> Decimal | None:
        if self.cost_nanos is None:
            return None
        return Decimal(self.cost_nanos) / NANOS_PER_USD


def split_mcp_tool(name: str) -> tuple[str | None, str]:
    """``mcp__server__tool`` -> (server, tool); other names -> (None, name)."""
    if name.startswith("mcp__"):
        rest = name[5:]
        server, sep, tool = rest.partition("__")
        if sep and server and tool:
            return server, tool
    return None, name
