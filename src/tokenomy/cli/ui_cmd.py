"""`tokenomy ui`: the dashboard and the analytics API alone, for a machine that reads its
agent logs and does not proxy calls (`tokenomy serve` shows the same dashboard at `/`)."""

from __future__ import annotations

import argparse
import os
import sys
import threading
import webbrowser
from collections.abc import Callable
from typing import Any

from tokenomy.cli.context import UsageError, has_active_keys, port_number
from tokenomy.config import Paths


def cmd_ui(args: argparse.Namespace) -> int:
    """Open the web dashboard: costs, models, sessions, failures, cache and advice, in a browser."""
    from tokenomy.gateway.same_site import is_loopback
    from tokenomy.gateway.serve import run

    if not is_loopback(args.host) and not args.insecure and not has_active_keys(Paths.from_env()):
        raise UsageError(
            f"refusing to show your spend on {args.host} without keys: create one with "
            "`tokenomy keys create`, use --host 127.0.0.1, or --insecure if the network is "
            "yours alone"
        )
    # The same server as `tokenomy serve`, with no models and nothing to record.
    os.environ["TOKENOMY_NO_RECORD"] = "1"
    host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    url = f"http://{host}:{args.port}/"
    sys.stderr.write(f"dashboard at {url} (Ctrl+C to stop)\n")
    if args.open:
        # After a moment, so the server is listening when the browser asks.
        threading.Timer(1.0, webbrowser.open, (url,)).start()
    run(None, args.host, args.port, 1)
    return 0


def add_ui_parser(sub: Any, command: Callable[..., argparse.ArgumentParser]) -> None:
    p = command(sub, "ui", cmd_ui, json=False)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    p.add_argument("--port", type=port_number, default=4100, help="port (default: 4100)")
    p.add_argument("--open", action="store_true", help="open it in the default browser")
    p.add_argument(
        "--insecure", action="store_true", help="allow a non-loopback address without keys"
    )
