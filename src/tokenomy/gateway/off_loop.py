"""Blocking work at shutdown, off the event loop when it can be."""

from __future__ import annotations

import asyncio
from collections.abc import Callable


async def run_blocking(work: Callable[[], object]) -> None:
    """Run ``work`` in a worker thread, or on this one when no thread can be started: at
    the interpreter's exit (an in-process ``tokenomy.Client`` closed by ``atexit``) the
    executors refuse new work, and the records must be written all the same."""
    try:
        await asyncio.to_thread(work)
    except RuntimeError:  # "cannot schedule new futures after interpreter shutdown"
        work()
