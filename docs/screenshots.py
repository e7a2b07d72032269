"""Regenerate the screenshots the README and docs/web.md show (docs/img/*.png).

The fixture story's five versions are served by the test site (tests/articleserver.py) on
127.0.0.1, stored by real checks in a temporary SQLite database, and the web view is opened in
Debian's Chromium through Playwright::

    .venv/bin/python docs/screenshots.py [--out docs/img]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SHOTS = (  # name, path, viewport width, height
    ("diff-inline", "/articles/1/diff/2..3", 1200, 900),
    ("diff-side", "/articles/1/diff/2..3?mode=side#c11", 1200, 900),
    ("articles", "/", 1200, 420),
    ("article", "/articles/1", 1200, 900),
    ("diff-phone", "/articles/1/diff/3..4", 390, 844),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    os.environ.update(TRACKER_ALLOW_PRIVATE_ADDRESSES="1", TRACKER_PER_HOST_RATE="0", TZ="UTC")
    from playwright.sync_api import sync_playwright

    from tests.articleserver import FIXTURES, ArticleServer
    from tests.webhelp import track_story
    from tracker.app import App
    from tracker.config import load_settings
    from tracker.web.server import Address, BackgroundServer

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder, ArticleServer(FIXTURES) as site:
        app = App(load_settings(database_url=f"sqlite:///{folder}/tracker.db"))
        track_story(app, site, "putin-kim", versions=(1, 2, 3, 4, 5), tags=["nordkorea"])
        web = BackgroundServer(app, Address("127.0.0.1", 0)).start()
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=args.chromium,
                                                     args=CHROMIUM_ARGS)
                for name, path, width, height in SHOTS:
                    page = browser.new_page(viewport={"width": width, "height": height})
                    page.goto(web.address.url.rstrip("/") + path)
                    target = args.out / f"{name}.png"
                    page.screenshot(path=str(target))
                    print(f"{target} ({target.stat().st_size:,} bytes)")
                    page.close()
                browser.close()
        finally:
            web.stop()
            app.close()


if __name__ == "__main__":
    main()
