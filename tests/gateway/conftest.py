"""Emulated providers, one fresh server per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.gateway.upstreams import Upstream, anthropic_upstream, openai_upstream


@pytest.fixture
def oai() -> Iterator[Upstream]:
    with openai_upstream() as up:
        yield up


@pytest.fixture
def ant() -> Iterator[Upstream]:
    with anthropic_upstream() as up:
        yield up


@pytest.fixture
def gem() -> Iterator[Upstream]:
    from tests.gateway.gemini_upstream import gemini_upstream

    with gemini_upstream() as up:
        yield up
