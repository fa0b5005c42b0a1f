"""Running the gateway: the app with its recorder, served by uvicorn."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

from tokenomy.config import Paths
from tokenomy.gateway.app import Gateway
from tokenomy.gateway.config import GatewayConfig, load_config
from tokenomy.gateway.recorder import Recorder
from tokenomy.pricing import PriceCatalog
from tokenomy.store import BatchWriter, open_database

CONFIG_ENV = "TOKENOMY_GATEWAY_CONFIG"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_gateway(config: GatewayConfig, paths: Paths, *, record: bool = True) -> Gateway:
    recorder = None
    if record:
        db = open_database(paths.database_url)
        catalog = PriceCatalog.load(paths.prices_file, cache_dir=paths.cache_dir)
        # Short flushes: a crash (kill -9) loses at most the last 0.2 s of records.
        recorder = Recorder(BatchWriter(db, flush_interval=0.2), catalog)
    return Gateway(config, recorder)


def create_app() -> Gateway:
    """The app for ``uvicorn --factory`` (one per worker process): config from the
    environment, as ``tokenomy serve`` sets it."""
    config_path = os.environ.get(CONFIG_ENV)
    config = load_config(Path(config_path)) if config_path else GatewayConfig()
    return build_gateway(
        config, Paths.from_env(), record=os.environ.get("TOKENOMY_NO_RECORD") != "1"
    )


def run(config_path: Path | None, host: str, port: int, workers: int) -> None:
    import uvicorn

    if config_path is not None:
        load_config(config_path)  # fail here, with the file and key, not in a worker
        os.environ[CONFIG_ENV] = str(config_path.resolve())
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
