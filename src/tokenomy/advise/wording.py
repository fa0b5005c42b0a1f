"""The advice of one row in a sentence: what to change, and the evidence that says why."""

from __future__ import annotations

from tokenomy.advise.evaluate import Evaluation


def _n(value: int) -> str:
    return f"{value:,}"


def advice(ev: Evaluation) -> str:
    actual, best = ev.actual, ev.best
    sim = ev.strategies[best]
    reuses = sum(ev.gaps)
    if best == "none":
        return (
            f"Remove the cache_control breakpoint: {_n(actual.write + actual.write_1h)} tokens "
            "were written to the cache and too few were read back before they expired."
        )
    if best == "anthropic_1h":
        return (
            f'Write the prefix with cache_control ttl "1h": {_n(ev.evicted_within_hour)} of '
            f"{_n(reuses)} reuses came 5-60 minutes after the previous call, when a 5-minute "
            "entry had expired; the dearer write (2x input instead of 1.25x) pays for itself."
        )
    if best == "anthropic_5m":
        if actual.write_1h > actual.write:
            return (
                "Write with the default 5-minute TTL: reuses come within 5 minutes, so "
                "1-hour writes (2x input instead of 1.25x) do not pay for themselves."
            )
        if actual.read == 0 and actual.write == 0:
            return (
                "Add a cache_control breakpoint at the end of the prompt: "
                f"{_n(ev.repeated_tokens)} tokens were sent again and never cached."
            )
        return (
            f"Keep the prompt's start identical between calls: {_n(sim.read)} tokens could "
            f"have been read from the cache, {_n(actual.read)} were; {_n(ev.rewritten)} calls "
            "wrote again what they had sent before."
        )
    return (
        f"Automatic caching would read {_n(sim.read)} tokens here, {_n(actual.read)} were "
        "read: keep the first 1,024+ tokens identical between calls (no timestamps or ids "
        "up front), pass a prompt_cache_key, and send a prefix's calls within 5 minutes."
    )
