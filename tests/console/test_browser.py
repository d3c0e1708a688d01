"""The operator console in a real browser (headless Chromium via Playwright), end to end.

An admin logs in, onboards a lender, reads its new API key off the page, and the key works on
the lender API; the admin suspends the lender and the same key is refused; the dashboard
draws its charts. The browser must report no console error (a CSP violation is one), no
uncaught script error and no server error on the way. Screenshots go to test-output/browser/.

It runs once, on its own SQLite database (the browser adds nothing per backend). Without
/usr/bin/chromium it is skipped, or failed when REGISTRY_REQUIRE_BROWSER=1 (CI).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import requests

from registry.migrations import upgrade
from registry.services.lenders import KEY_PATTERN
from tests.console.browser import (
    ROOT,
    chromium_page,
    create_operator,
    login,
    new_password,
    require_browser,
    serve,
)
from tests.helpers import bearer, iso, loan

pytestmark = [pytest.mark.live, pytest.mark.timeout(120)]

SHOTS = ROOT / "test-output" / "browser"
HTTP_TIMEOUT = 10


def _book(today: date, now: datetime) -> list[dict[str, object]]:
    """A few loans, so that the dashboard has something to draw."""
    opened = (today - timedelta(days=20)).isoformat()
    due = (today + timedelta(days=160)).isoformat()
    as_of = iso(now - timedelta(minutes=5))
    return [
        loan(f"ACME-{n:04d}", borrower=f"browser-{n}", opened_on=opened, due_on=due, as_of=as_of)
        for n in range(1, 6)
    ]


def test_operator_onboards_and_suspends_a_lender_in_a_real_browser(tmp_path: Path) -> None:
    require_browser()
    from playwright.sync_api import expect

    database_url = f"sqlite:///{tmp_path / 'registry.db'}"
    upgrade(database_url)
    password = new_password()
    create_operator(database_url, "root", password, role="admin")
    SHOTS.mkdir(parents=True, exist_ok=True)

    with serve(database_url) as base, chromium_page() as (page, problems):
        # Log in.
        page.goto(f"{base}/console/login")
        expect(page.locator('input[name="username"]')).to_be_visible()
        expect(page.locator('input[name="csrf_token"]')).to_have_count(1)
        page.screenshot(path=SHOTS / "login.png")
        login(page, base, "root", password)

        # Onboard a lender; its key is shown once.
        page.goto(f"{base}/console/lenders/new")
        page.locator('input[name="code"]').fill("acme")
        page.locator('input[name="name"]').fill("Acme Credit")
        page.locator('form:has(input[name="code"]) [type="submit"]').first.click()
        page.wait_for_url(f"{base}/console/lenders/acme")
        new_key = page.locator("#new-api-key")
        expect(new_key).to_be_visible()
        expect(page.locator("#copy-key")).to_be_visible()
        api_key = new_key.inner_text().strip()
        assert KEY_PATTERN.fullmatch(api_key), f"not an API key: {api_key!r}"
        page.screenshot(path=SHOTS / "lender.png", full_page=True)

        # The key works on the lender API.
        response = requests.get(f"{base}/v1/loans", headers=bearer(api_key), timeout=HTTP_TIMEOUT)
        assert response.status_code == 200, response.text
        now = datetime.now(UTC)
        response = requests.post(
            f"{base}/v1/loans",
            json={"loans": _book(now.date(), now)},
            headers=bearer(api_key),
            timeout=HTTP_TIMEOUT,
        )
        assert response.status_code == 200, response.text
        assert response.json()["accepted"] == 5, response.text

        # Shown once: reloading the lender page does not show it again.
        page.reload()
        expect(page.locator("#suspend")).to_be_visible()
        expect(page.locator("#new-api-key")).to_have_count(0)

        # Suspend the lender: the same key is now refused.
        page.locator("#suspend").click()
        expect(page.locator("#reactivate")).to_be_visible()
        expect(page.locator(".flash").first).to_be_visible()
        response = requests.get(f"{base}/v1/loans", headers=bearer(api_key), timeout=HTTP_TIMEOUT)
        assert response.status_code == 403, response.text
        page.screenshot(path=SHOTS / "lender-suspended.png", full_page=True)

        # The dashboard draws its charts.
        page.goto(f"{base}/console/")
        chart = page.locator("svg#chart-lender-distribution")
        expect(chart).to_be_visible()
        bars = chart.locator("rect.bar")
        assert bars.count() >= 5, f"{bars.count()} bars in the lender-distribution chart"
        box = chart.bounding_box()
        assert box is not None and box["width"] > 0 and box["height"] > 0, box
        expect(page.locator("#chart-daily-activity")).to_be_visible()
        expect(page.locator("#chart-flags")).to_be_visible()
        page.screenshot(path=SHOTS / "dashboard.png", full_page=True)

        # Log out: the console is closed again.
        page.locator("#logout").click()
        page.wait_for_url(f"{base}/console/login**")
        page.goto(f"{base}/console/")
        page.wait_for_url(f"{base}/console/login**")

    assert not problems.entries, "the browser reported problems:\n" + problems.report()
