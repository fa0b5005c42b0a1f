"""Capture: every way a call enters Tokenomy (agent-log importers for now)."""
