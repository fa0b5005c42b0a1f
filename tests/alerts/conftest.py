"""Shares the reports tests' CLI fixtures (own data directory, in-process CLI)."""

from tests.reports.conftest import cli, home

__all__ = ["cli", "home"]
