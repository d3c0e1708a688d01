"""The README's console screenshots, regenerated: `python -m tests.bench.screenshots`.

Builds a throwaway SQLite database with the demo data (`registry demo`), creates an admin
operator, serves the app on a free loopback port and, in headless Chromium at 1280x800,
logs in and saves the dashboard and a demo lender's page to docs/screenshots/. Needs
/usr/bin/chromium (`apt-get install -y chromium`) and the playwright package.
"""

from __future__ import annotations

import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from registry.db import make_engine, make_session_factory
from registry.migrations import upgrade
from registry.services.demo import DEMO_LENDERS, seed_demo
from registry.signer import Signer
from tests.console.browser import (
    ROOT,
    browser_missing,
    chromium_page,
    create_operator,
    login,
    new_password,
    serve,
)

TARGET = ROOT / "docs" / "screenshots"
WIDTH, HEIGHT = 1280, 800


def load_demo(database_url: str, key_dir: Path) -> None:
    engine = make_engine(database_url)
    session = make_session_factory(engine)()
    try:
        seed_demo(session, Signer(key_dir, ""), datetime.now(UTC))
        session.commit()
    finally:
        session.close()
        engine.dispose()


def main() -> int:
    reason = browser_missing()
    if reason:
        print(f"screenshots: {reason}", file=sys.stderr)
        return 2
    from playwright.sync_api import expect

    TARGET.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="registry-screenshots-") as tmp:
        database_url = f"sqlite:///{Path(tmp) / 'registry.db'}"
        upgrade(database_url)
        load_demo(database_url, Path(tmp) / "keys")
        password = new_password()
        create_operator(database_url, "admin", password, role="admin")
        with serve(database_url) as base, chromium_page(WIDTH, HEIGHT) as (page, problems):
            login(page, base, "admin", password)
            expect(page.locator("svg#chart-lender-distribution rect.bar").first).to_be_visible()
            page.screenshot(path=TARGET / "dashboard.png")
            page.goto(f"{base}/console/lenders/{DEMO_LENDERS[0][0]}")
            expect(page.locator("#suspend, #reactivate").first).to_be_visible()
            page.screenshot(path=TARGET / "lender.png")
        for problem in problems.entries:
            print(f"screenshots: WARNING: {problem}", file=sys.stderr)
    for name in ("dashboard.png", "lender.png"):
        print(f"written {(TARGET / name).relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
