"""Which deployment gets a request, and when a failed one is tried again.

Per deployment (shared by every alias that names the same upstream model) the router keeps:
requests in flight (for least-busy balancing), requests and tokens in the last minute (for
rpm/tpm limits), and a circuit breaker: after ``failure_threshold`` consecutive failures the
deployment is left alone for ``cooldown`` seconds, then one trial request decides whether it
is back. A 429's ``Retry-After`` parks the deployment for that long without counting as a
failure of the deployment itself.

State is per process: with ``--workers N`` each worker limits and balances on its own, so a
deployment's rpm is shared out as ``rpm / N`` per worker (see :meth:`Router.for_workers`).
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from tokenomy.gateway.config import Deployment, RouterSettings, Strategy

Clock = Callable[[], float]
_SLACK = 0.01


class MinuteWindow:
    """A count over the last 60 seconds, in one-second buckets: O(1) to add and to read."""

    __slots__ = ("_buckets", "_seconds", "_total")

    def __init__(self) -> None:
        self._buckets = [0] * 60
        self._seconds = [-1] * 60
        self._total = 0

    def _expire(self, second: int) -> None:
        for i in range(60):
            if self._seconds[i] != -1 and self._seconds[i] <= second - 60:
                self._total -= self._buckets[i]
                self._buckets[i], self._seconds[i] = 0, -1

    def add(self, now: float, amount: int = 1) -> None:
        second = int(now)
        self._expire(second)
        i = second % 60
        if self._seconds[i] != second:
            self._buckets[i], self._seconds[i] = 0, second
        self._buckets[i] += amount
        self._total += amount

    def total(self, now: float) -> int:
        self._expire(int(now))
        return self._total

    def wait_until_below(self, now: float, limit: int) -> float:
        """Seconds until the count drops below ``limit`` as old buckets leave the window."""
        second = int(now)
        self._expire(second)
        total = self._total
        for s in sorted(x for x in self._seconds if x != -1):
            if total < limit:
                break
            total -= self._buckets[s % 60]
            if total < limit:
                return max(0.0, s + 60 - now)
        return 0.0


@dataclass(slots=True)
class DeploymentState:
    in_flight: int = 0
    consecutive_failures: int = 0
    # Not tried before this time (monotonic): an open circuit or a provider's Retry-After.
    not_before: float = 0.0
    circuit_open: bool = False
    trial_in_flight: bool = False
    requests: MinuteWindow = field(default_factory=MinuteWindow)
    tokens: MinuteWindow = field(default_factory=MinuteWindow)


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a deployment cannot take a request now, and for how long."""

    reason: str  # "rate_limited" (our rpm/tpm) or "cooling" (open circuit, Retry-After)
    wait: float
    detail: str


class Router:
    def __init__(
        self,
        settings: RouterSettings,
        *,
        clock: Clock = time.monotonic,
        rng: random.Random | None = None,
        workers: int = 1,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.rng = rng or random.Random()
        self.workers = max(1, workers)
        self._states: dict[str, DeploymentState] = {}

    def state(self, deployment: Deployment) -> DeploymentState:
        state = self._states.get(deployment.key)
        if state is None:
            state = self._states[deployment.key] = DeploymentState()
        return state

    def states(self) -> Mapping[str, DeploymentState]:
        return self._states

    # -- choosing -------------------------------------------------------------------------

    def order(
        self, deployments: list[Deployment], strategy: Strategy | None = None
    ) -> list[Deployment]:
        """The order to try an alias's deployments in, for one request."""
        strategy = strategy or self.settings.strategy
        if len(deployments) < 2 or strategy == "ordered":
            return list(deployments)
        if strategy == "least-busy":
            # Ties (e.g. all idle) are broken at random so equal deployments share the load.
            keyed = [(self.state(d).in_flight, self.rng.random(), d) for d in deployments]
            return [d for _, _, d in sorted(keyed, key=lambda k: (k[0], k[1]))]
        # Weighted random order without replacement (Efraimidis-Spirakis): each deployment
        # comes first with probability weight / total weight.
        keyed = [(self.rng.random() ** (1.0 / d.weight), 0.0, d) for d in deployments]
        return [d for _, _, d in sorted(keyed, key=lambda k: -k[0])]

    def refusal(self, deployment: Deployment) -> Refusal | None:
        """None if ``deployment`` may take a request now."""
        state = self.state(deployment)
        now = self.clock()
        # A little slack: the event loop may wake a sleeper a hair before the clock agrees.
        if state.not_before > now + _SLACK:
            what = "circuit open" if state.circuit_open else "provider asked to retry later"
            return Refusal("cooling", state.not_before - now, f"{deployment.label}: {what}")
        if state.circuit_open and state.trial_in_flight:
            # Half-open: one trial request at a time decides whether it is back.
            return Refusal("cooling", 1.0, f"{deployment.label}: circuit half-open, trial running")
        wall = time.time()
        rpm = self._share(deployment.rpm)
        if rpm is not None and state.requests.total(wall) >= rpm:
            wait = state.requests.wait_until_below(wall, rpm)
            return Refusal(
                "rate_limited", wait, f"{deployment.label}: {deployment.rpm} rpm reached"
            )
        tpm = self._share(deployment.tpm)
        if tpm is not None and state.tokens.total(wall) >= tpm:
            wait = state.tokens.wait_until_below(wall, tpm)
            return Refusal(
                "rate_limited", wait, f"{deployment.label}: {deployment.tpm} tpm reached"
            )
        return None

    def _share(self, limit: int | None) -> int | None:
        if limit is None:
            return None
        return max(1, limit // self.workers)

    # -- outcomes -------------------------------------------------------------------------

    def started(self, deployment: Deployment) -> None:
        state = self.state(deployment)
        state.in_flight += 1
        state.requests.add(time.time())
        if state.circuit_open:
            state.trial_in_flight = True

    def finished(self, deployment: Deployment, *, tokens: int = 0) -> None:
        state = self.state(deployment)
        state.in_flight = max(0, state.in_flight - 1)
        state.trial_in_flight = False
        if tokens:
            state.tokens.add(time.time(), tokens)

    def succeeded(self, deployment: Deployment) -> None:
        state = self.state(deployment)
        state.consecutive_failures = 0
        state.circuit_open = False
        state.not_before = 0.0

    def failed(self, deployment: Deployment, *, retry_after: float | None = None) -> None:
        """A retryable failure: connection error, timeout, 5xx, or 429 (with Retry-After)."""
        state = self.state(deployment)
        now = self.clock()
        if retry_after is not None:
            # The provider said when: park the deployment, but the deployment itself is not
            # broken, so this does not count towards opening its circuit.
            state.not_before = max(state.not_before, now + retry_after)
            return
        state.consecutive_failures += 1
        if state.circuit_open or state.consecutive_failures >= self.settings.failure_threshold:
            state.circuit_open = True
            state.not_before = now + self.settings.cooldown

    def backoff(self, round_index: int) -> float:
        """Seconds before retry round ``round_index + 1``: exponential with full jitter, so
        clients that failed together do not come back together."""
        ceiling = min(self.settings.max_backoff, self.settings.backoff * (2**round_index))
        return self.rng.uniform(ceiling / 2, ceiling) if ceiling > 0 else 0.0


def retry_after_seconds(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """A response's ``retry-after-ms`` / ``Retry-After`` (seconds or an HTTP date), if any."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            value = float(millis) / 1000
        except ValueError:
            value = math.nan
        if math.isfinite(value) and value >= 0:
            return value
    raw = headers.get("retry-after")
    if raw is None:
        return None
    raw = raw.strip()
    try:
        value = float(raw)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            return None
        now = time.time() if now is None else now
        return max(0.0, when.timestamp() - now)
    return value if math.isfinite(value) and value >= 0 else None


def soonest(refusals: Iterable[Refusal]) -> Refusal | None:
    return min(refusals, key=lambda r: r.wait, default=None)
