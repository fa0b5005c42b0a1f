"""Advice that cuts the cost of calls, each with the dollars it saves and the calls that
show why. ``advise_cache``: provider prompt caching (see ``prompt_cache``)."""

from tokenomy.advise.policies import CachePolicy, policy_for
from tokenomy.advise.prompt_cache import advise_cache
from tokenomy.advise.simulate import Run, Split, Strategy, Use, reusable, simulate

__all__ = [
    "CachePolicy",
    "Run",
    "Split",
    "Strategy",
    "Use",
    "advise_cache",
    "policy_for",
    "reusable",
    "simulate",
]
