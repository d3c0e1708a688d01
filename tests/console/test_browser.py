"""The operator console in a real browser (headless Chromium via Playwright), end to end.

An admin logs in, onboards a lender, reads its new API key off the page, and the key works on
the lender API; the admin suspends the lender and the same key is refused; the dashboard
draws its charts. The browser must report no console error (a CSP violation is one), no
uncaught script error and no server error on the way. Screenshots go to test-output/browser/.
How it runs (once, without /usr/bin/chromium or with it): see tests/console/browser.py.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from registry.cli import main
from registry.services.lenders import KEY_PATTERN
from tests.console.browser import (
    HTTP_TIMEOUT,
    SHOTS,
    chromium_page,
    console_database,
    login,
    new_operator,
    require_browser,
    serve,
)
from tests.helpers import bearer, iso, loan

pytestmark = [pytest.mark.live, pytest.mark.timeout(120)]


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

    database_url = console_database(tmp_path)
    password = new_operator(database_url, "root", role="admin")

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

    problems.assert_none()


def test_a_new_user_on_the_demo_finds_the_way_in_a_real_browser(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 13, in the browser, on `registry demo`'s data: `/` is a page that leads to the
    console; the inquiries table keeps amounts and consent references on one line and links
    each borrower to the look-up, which asks for a reason and then counts inquiring lenders
    in the report's words; the charts' axes step by round numbers; the demo's submissions
    vary by day and its lenders last reported on different days."""
    require_browser()
    from playwright.sync_api import expect

    database_url = console_database(tmp_path)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("REGISTRY_DATABASE_URL", database_url)
    monkeypatch.setenv("REGISTRY_OPRF_KEY_DIR", str(tmp_path / "oprf-keys"))
    monkeypatch.delenv("REGISTRY_ENV", raising=False)
    demo = CliRunner().invoke(main, ["demo"])
    assert demo.exit_code == 0, demo.output
    password = new_operator(database_url, "root", role="admin")

    with serve(database_url) as base, chromium_page() as (page, problems):
        # 6: the address `make run` prints is a page, and it leads to the console.
        page.goto(f"{base}/")
        expect(page.locator("#to-openapi")).to_have_attribute("href", "/openapi.json")
        expect(page.locator("#walkthrough")).to_contain_text("README.md")
        page.screenshot(path=SHOTS / "landing.png", full_page=True)
        page.locator("#to-console").click()
        page.wait_for_url(f"{base}/console/login**")
        login(page, base, "root", password)

        # 9: round axis steps; submissions that vary by day.
        for chart_id in ("chart-lender-distribution", "chart-daily-activity", "chart-flags"):
            ticks = [
                int(v)
                for v in page.locator(f"#{chart_id} text.tick").evaluate_all(
                    "nodes => nodes.map(n => n.dataset.value)"
                )
            ]
            steps = {b - a for a, b in pairwise(ticks)}
            assert len(steps) == 1, (chart_id, ticks)
            (step,) = steps
            assert re.fullmatch(r"[125]0*", str(step)), (chart_id, ticks)
        submissions = page.locator("#chart-daily-activity circle.series-0 title").evaluate_all(
            "nodes => nodes.map(n => n.textContent)"
        )
        per_day = [int(text.rsplit(": ", 1)[1]) for text in submissions]
        assert len(per_day) == 30 and len(set(per_day)) >= 3, per_day
        assert sum(1 for n in per_day if n) >= 10, per_day
        page.screenshot(path=SHOTS / "dashboard-demo.png", full_page=True)

        # 9: lenders last reported on different days; the name links too.
        page.goto(f"{base}/console/lenders")
        last = page.locator("table tbody tr td:nth-child(4)").all_inner_texts()
        assert len({text[:10] for text in last}) >= 3, last
        page.get_by_role("link", name="Harbor Microcredit").click()
        page.wait_for_url(f"{base}/console/lenders/harbor")

        # 9 and 2: one line per amount and consent; the borrower links to the look-up.
        page.goto(f"{base}/console/inquiries")
        first = page.locator("table tbody tr").first
        line = float(first.evaluate("row => parseFloat(getComputedStyle(row).lineHeight) || 20"))
        for cell in (first.locator("td").nth(4), first.locator("td").nth(5)):
            box = cell.bounding_box()
            assert box is not None and box["height"] < 2 * line + 16, (cell.inner_text(), box)
            assert cell.evaluate("c => getComputedStyle(c).whiteSpace") == "nowrap"
        page.screenshot(path=SHOTS / "inquiries.png", full_page=True)
        first.locator("a.borrower-link").click()
        page.wait_for_url(re.compile(r".*/console/borrowers/[0-9a-f]{64}$"))
        token = page.url.rsplit("/", 1)[1]
        expect(page.locator('#lookup-token input[name="token"]')).to_have_value(token)

        # 4: no reason, no record (a 422 page, which the browser logs: expected here).
        before = len(problems.entries)
        page.locator('#lookup-token [type="submit"]').click()
        expect(page.locator("#reason-error")).to_be_visible()
        expect(page.locator("#other-lenders-inquiring")).to_have_count(0)
        assert all("status of 422" in entry for entry in problems.entries[before:])
        del problems.entries[before:]

        # 3: with a reason, the report's definition and words.
        page.locator('#lookup-token input[name="reason"]').fill("browser test: issue 13")
        page.locator('#lookup-token [type="submit"]').click()
        row = page.locator("#other-lenders-inquiring")
        expect(row).to_contain_text("Other lenders inquiring (1h/24h/7d/30d/90d)")
        assert re.fullmatch(r"\d+/\d+/\d+/\d+/\d+", row.locator("td").inner_text().strip())
        expect(page.locator("#lookup-reason")).to_have_text("browser test: issue 13")
        expect(page.get_by_text("Lenders, not inquiries")).to_be_visible()
        page.screenshot(path=SHOTS / "borrower.png", full_page=True)

    problems.assert_none()
