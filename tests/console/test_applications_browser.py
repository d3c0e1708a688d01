"""Issue 10 in a real browser (headless Chromium): the dashboard draws applications per day by
outcome, each outcome in its own colour from the stylesheet (the CSP allows no style
attribute), and the inquiries page filters by outcome through its form. No console error (a
CSP violation is one), no script error, no server error on the way.

How it runs: see tests/console/browser.py."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from registry.db import make_engine, make_session_factory
from registry.models import ApplicationOutcome, Inquiry
from registry.services import lenders
from tests.console.browser import (
    SHOTS,
    console_database,
    new_operator,
    require_browser,
    serve,
    signed_in,
)
from tests.helpers import token

pytestmark = [pytest.mark.live, pytest.mark.timeout(120)]

# (hours ago, outcome) of each application; None: no outcome yet.
APPLICATIONS = [(1, "approved"), (1, "approved"), (2, "declined"), (3, None), (26, "withdrawn")]


def _seed(database_url: str, now: datetime) -> None:
    engine = make_engine(database_url)
    session = make_session_factory(engine)()
    try:
        lender, _key = lenders.create_lender(session, "alpha", "Alpha Lending", now)
        for n, (hours, outcome) in enumerate(APPLICATIONS):
            at, borrower, inquiry_id = now - timedelta(hours=hours), token(n), str(uuid.uuid4())
            session.add(
                Inquiry(
                    borrower=bytes.fromhex(borrower),
                    id=inquiry_id,
                    lender_id=lender.id,
                    purpose="new_credit",
                    consent_ref=f"consent-{n}",
                    amount_requested=200_000,
                    currency="CNY",
                    flags=[],
                    created_at=at,
                    report={},
                )
            )
            if outcome:
                approved = outcome == "approved"
                session.add(
                    ApplicationOutcome(
                        borrower=bytes.fromhex(borrower),
                        inquiry_id=inquiry_id,
                        lender_id=lender.id,
                        outcome=outcome,
                        loan_ref=f"ALPHA-{n}" if approved else None,
                        amount=200_000 if approved else None,
                        currency="CNY" if approved else None,
                        inquired_at=at,
                        recorded_at=at,
                    )
                )
        session.commit()
    finally:
        session.close()
        engine.dispose()


def test_applications_chart_and_outcome_filter_in_a_real_browser(tmp_path: Path) -> None:
    require_browser()
    from playwright.sync_api import expect

    database_url = console_database(tmp_path)
    _seed(database_url, datetime.now(UTC))
    password = new_operator(database_url, "root", role="admin")

    with serve(database_url) as base, signed_in(base, "root", password) as (page, _):
        chart = page.locator("svg#chart-applications")
        expect(chart).to_be_visible()
        box = chart.bounding_box()
        assert box is not None and box["width"] > 300 and box["height"] > 100, box
        values = chart.locator("rect.segment").evaluate_all(
            "nodes => nodes.map(n => [n.dataset.series, Number(n.dataset.value),"
            " getComputedStyle(n).fill, n.getBBox().height])"
        )
        totals: dict[str, int] = {}
        fills: dict[str, set[str]] = {}
        for series, value, fill, height in values:
            totals[series] = totals.get(series, 0) + value
            fills.setdefault(series, set()).add(fill)
            assert height > 0, (series, value)
        assert totals == {"Approved": 2, "Declined": 1, "No outcome yet": 1, "Withdrawn": 1}
        # One colour per outcome, each a different one, the same as its legend key's.
        assert all(len(colours) == 1 for colours in fills.values()), fills
        assert len({next(iter(c)) for c in fills.values()}) == 4, fills
        keys = page.locator("#applications .legend .key").evaluate_all(
            "nodes => nodes.map(n => getComputedStyle(n).backgroundColor)"
        )
        assert keys[0] == next(iter(fills["Approved"])), (keys, fills)
        assert keys[1] == next(iter(fills["Declined"])), (keys, fills)
        page.screenshot(path=SHOTS / "dashboard-applications.png", full_page=True)

        # The inquiries page: the outcome filter through the form.
        page.goto(f"{base}/console/inquiries")
        expect(page.locator("td.outcome [data-outcome]")).to_have_count(len(APPLICATIONS))
        page.locator('select[name="outcome"]').select_option("declined")
        page.locator('form.filters button[type="submit"]').click()
        page.wait_for_url("**outcome=declined**")
        expect(page.locator("table tbody tr")).to_have_count(1)
        expect(page.locator('td.outcome [data-outcome="declined"]')).to_be_visible()
        page.screenshot(path=SHOTS / "inquiries-declined.png", full_page=True)

        # The lender page: its outcome rate, 4 of the 5 applications with an outcome.
        page.goto(f"{base}/console/lenders/alpha")
        expect(page.locator("#outcome-rate-value")).to_have_text("80%")
        expect(page.locator("#expired-provisional-count")).to_have_text("0")
        page.screenshot(path=SHOTS / "lender-outcomes.png", full_page=True)
