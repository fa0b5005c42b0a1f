"""Running the gateway: the app with its recorder and keys, served by uvicorn."""

from __future__ import annotations

import os
from pathlib import Path

from tokenomy.api.app import AnalyticsApi
from tokenomy.config import Paths
from tokenomy.gateway.app import Gateway
from tokenomy.gateway.config import GatewayConfig, load_config
from tokenomy.gateway.recorder import Recorder
from tokenomy.pricing import PriceCatalog
from tokenomy.store import BatchWriter, open_database
from tokenomy.store.db import WRITER_CACHE_MB

# How `tokenomy serve` tells each worker process what to serve.
CONFIG_ENV = "TOKENOMY_GATEWAY_CONFIG"
CAPTURE_ENV = "TOKENOMY_CAPTURE_CONTENT"
WORKERS_ENV = "TOKENOMY_GATEWAY_WORKERS"


def startup_line(
    host: str,
    port: int,
    config: GatewayConfig,
    config_path: Path | None,
    *,
    keys_required: bool,
    workers: int = 1,
) -> str:
    """What `tokenomy serve` says once as it starts (uvicorn's own start-up log is off):
    where it listens, what it serves, and whether callers need a key."""
    address = f"[{host}]" if ":" in host else host  # an IPv6 address in a URL
    count = len(config.aliases)
    served = f"{count} model alias{'' if count == 1 else 'es'}"
    if config_path is not None:
        served += f" from {config_path}"
    if workers > 1:
        served += f", {workers} workers"
    keys = (
        "every request needs a tokenomy key"
        if keys_required
        else "no tokenomy key created, so requests need none"
    )
    return (
        f"gateway at http://{address}:{port}/ (dashboard at /, API at /api/v1; Ctrl+C to "
        f"stop): {served}; {keys}"
    )


def build_gateway(
    config: GatewayConfig,
    paths: Paths,
    *,
    record: bool = True,
    config_path: Path | None = None,
    capture_content: bool = False,
    workers: int = 1,
) -> Gateway:
    from tokenomy.keys import KeyRing

    # The writer only appends: a small page cache keeps the process's memory flat.
    db = open_database(paths.database_url, cache_mb=WRITER_CACHE_MB)
    recorder = None
    catalog = PriceCatalog.load(paths.prices_file, cache_dir=paths.cache_dir)
    if record:
        # Short flushes: a crash (kill -9) loses at most the last 0.2 s of records.
        recorder = Recorder(BatchWriter(db, flush_interval=0.2), catalog)
    # Keys are read on their own connection: the writer's is used from its own thread.
    keys_db = open_database(paths.database_url, cache_mb=1)
    # The analytics API reads on a connection of its own, with a reader's page cache.
    api = AnalyticsApi(open_database(paths.database_url), catalog, evals_path=paths.evals_file)
    gateway = Gateway(
        config,
        recorder,
        load_keys=lambda: KeyRing.load(keys_db),
        load_config=None if config_path is None else (lambda: load_checked(config_path)),
        capture_content=capture_content,
        workers=workers,
        api=api,
    )
    if config_path is not None:
        _send_budget_alerts(gateway, config_path, paths)
    return gateway


def load_checked(path: Path) -> GatewayConfig:
    """The gateway's config, with the ``alerts:`` section checked too (budget alerts are
    sent from here), as `tokenomy serve` checks both at start: a SIGHUP must not take a
    file the next start would refuse."""
    from tokenomy.alerts import load_alerts

    config = load_config(path)
    load_alerts(path)
    return config


def _send_budget_alerts(gateway: Gateway, config_path: Path, paths: Paths) -> None:
    """Budget rules under ``alerts:`` fire from the gateway the moment a threshold is
    crossed (not only at the next ``tokenomy alerts run``); both share one state file, so
    a crossing is sent once."""
    from tokenomy.alerts import AlertState, budget_hook, load_alerts, make_notifiers

    alerts = load_alerts(config_path)
    if any(rule.kind == "budget" for rule in alerts.rules):
        notifiers = make_notifiers(alerts.targets)
        hook = budget_hook(alerts, notifiers, AlertState(paths.home / "alerts"))
        gateway.budgets.alert_hooks.append(hook)


def create_app() -> Gateway:
    """The app for ``uvicorn --factory`` (one per worker process): config from the
    environment, as ``tokenomy serve`` sets it."""
    config_path = os.environ.get(CONFIG_ENV)
    path = Path(config_path) if config_path else None
    config = load_config(path) if path is not None else GatewayConfig()
    return build_gateway(
        config,
        Paths.from_env(),
        record=os.environ.get("TOKENOMY_NO_RECORD") != "1",
        config_path=path,
        capture_content=os.environ.get(CAPTURE_ENV) == "1",
        workers=int(os.environ.get(WORKERS_ENV, "1")),
    )


def run(
    config_path: Path | None,
    host: str,
    port: int,
    workers: int,
    *,
    capture_content: bool = False,
) -> None:
    import uvicorn

    if config_path is not None:
        load_checked(config_path)  # fail here, with the file and key, not in a worker
        os.environ[CONFIG_ENV] = str(config_path.resolve())
    os.environ[CAPTURE_ENV] = "1" if capture_content else "0"
    os.environ[WORKERS_ENV] = str(workers)
    uvicorn.run(
        "tokenomy.gateway.serve:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="auto",
        http="auto",
        lifespan="on",
        log_level="warning",
        access_log=False,
    )
