"""Screenshots of the dashboard for the README and docs/dashboard.md.

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots]

Builds a demo database in a temporary folder (60,000 generated calls over 30 days from
bench/analytics.py, shaped by the shared traces, plus 120 generated Claude Code sessions),
serves it with a gateway in front of a local stand-in provider (the tests' upstream, so
the Gateway page has traffic), and photographs every page in Debian's Chromium. Nothing is
fetched from the network.
"""

from __future__ import annotations

import argparse
import contextlib
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tokenomy.dashboard.assets import PAGES as APP_PAGES  # noqa: E402

# Every page from seeded calls; the Gateway page is taken apart, after live traffic.
PAGES = tuple(p for p in APP_PAGES if p != "gateway")
END = "2026-11-21T12:00:00Z"


def build_database(work: Path) -> Path:
    from tokenomy.sample.claude_logs import TreeSpec, generate_tree

    home = work / "home"
    subprocess.run(
        [sys.executable, str(ROOT / "bench" / "analytics.py"), "--calls", "60000", "--days",
         "30", "--end", END, "--workdir", str(work), "--generate-only"],
        check=True, cwd=ROOT, capture_output=True,
    )  # fmt: skip
    [csv] = work.glob("calls-*.csv")
    tokenomy = [sys.executable, "-c", "from tokenomy.cli.main import run; run()"]
    env = {"TOKENOMY_HOME": str(home), "PATH": "/usr/bin:/bin"}
    subprocess.run([*tokenomy, "import", "csv", str(csv)], check=True, env=env)
    tree = work / "claude"
    start = datetime(2026, 10, 25, tzinfo=UTC)
    generate_tree(TreeSpec(root=tree, sessions=120, start=start, days=27, projects=5))
    subprocess.run(
        [*tokenomy, "import", "claude-code", "--path", str(tree)], env=env, capture_output=True
    )
    return home / "tokenomy.db"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    import openai
    from playwright.sync_api import sync_playwright
    from tests.gateway.running import RunningGateway
    from tests.gateway.upstreams import openai_upstream

    from tokenomy.api.app import AnalyticsApi
    from tokenomy.pricing import PriceCatalog
    from tokenomy.store import open_database

    with tempfile.TemporaryDirectory() as tmp:
        db = open_database(f"sqlite:///{build_database(Path(tmp))}")
        deployment = {"provider": "openai", "model": "gpt-4o-mini", "api_key": "k"}
        with (
            openai_upstream() as oai,
            RunningGateway(
                {"fast": [{**deployment, "base_url": oai.base_url + "/v1"}]},
                db,
                router={"retries": 0, "failure_threshold": 3, "cooldown": 60},
                api=AnalyticsApi(db, PriceCatalog.load(None)),
            ) as gw,
        ):
            client = openai.OpenAI(base_url=gw.url + "/v1", api_key="x", max_retries=0)
            for i in range(12):
                if i in (4, 9):
                    oai.fail_next(429)
                # The 429s, and the wait after them, are part of the picture.
                with contextlib.suppress(openai.APIStatusError):
                    client.chat.completions.create(
                        model="fast", messages=[{"role": "user", "content": f"q{i}"}]
                    )
            view = "range=30d&tz=UTC"
            with sync_playwright() as p:
                browser = p.chromium.launch(
                    executable_path="/usr/bin/chromium", args=["--no-sandbox"]
                )
                for scheme, size, pages in (
                    ("light", (1366, 900), (*PAGES, "gateway")),
                    ("dark", (1366, 900), ("overview",)),
                    ("light", (390, 844), ("overview",)),
                ):
                    context = browser.new_context(
                        viewport={"width": size[0], "height": size[1]}, color_scheme=scheme
                    )
                    page = context.new_page()
                    for name in pages:
                        page.goto(f"{gw.url}/?page={name}&{view}")
                        page.wait_for_selector("main h1")
                        page.wait_for_function("() => !document.querySelector('main .loading')")
                        page.wait_for_timeout(500)  # charts drawn
                        suffix = "" if scheme == "light" and size[0] > 500 else f"-{scheme}"
                        if size[0] < 500:
                            suffix = "-phone"
                        path = args.out / f"{name}{suffix}.png"
                        page.screenshot(path=str(path), full_page=False)
                        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
                    context.close()
                browser.close()
            client.close()
        db.close()


if __name__ == "__main__":
    main()
