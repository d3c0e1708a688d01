"""A dispute's life cycle in a real browser (headless Chromium via Playwright) against a real
server (issue 11): a lender relays a dispute through the API; the operator finds it on the
disputes page, looks the borrower up, attaches their statement, opens a second dispute at the
desk, sees the lender's answer, and produces the print-ready disclosure. No console error (a
CSP violation is one), no script error, no server error on the way. How it runs: see
tests/console/browser.py.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from registry.cli import main
from registry.services.lenders import KEY_PATTERN
from tests.console.browser import (
    HTTP_TIMEOUT,
    SHOTS,
    console_database,
    new_operator,
    require_browser,
    serve,
    signed_in,
)
from tests.helpers import bearer, iso, loan, token

pytestmark = [pytest.mark.live, pytest.mark.timeout(180)]

BORROWER = token("browser-dispute")


def _lender(database_url: str, code: str, name: str) -> str:
    """`registry lenders add CODE NAME`, in process; returns its API key."""
    result = CliRunner().invoke(
        main,
        ["lenders", "add", code, name],
        env={"REGISTRY_DATABASE_URL": database_url, "REGISTRY_ENV": "development"},
    )
    assert result.exit_code == 0, result.output
    match = re.search(r"rk_[a-z0-9]{12}_[A-Za-z0-9_-]{43}", result.output)
    assert match and KEY_PATTERN.fullmatch(match[0]), result.output
    return match[0]


def _post(base: str, path: str, key: str, body: Mapping[str, object]) -> requests.Response:
    return requests.post(f"{base}{path}", json=body, headers=bearer(key), timeout=HTTP_TIMEOUT)


def test_a_dispute_from_the_api_to_the_printed_disclosure(tmp_path: Path) -> None:
    require_browser()
    from playwright.sync_api import expect

    database_url = console_database(tmp_path)
    password = new_operator(database_url, "desk", role="analyst")
    owner_key = _lender(database_url, "owner", "Owner Finance")
    second_key = _lender(database_url, "second", "Second Credit")
    asker_key = _lender(database_url, "asker", "Asking Bank")
    now = datetime.now(UTC)
    as_of = iso(now - timedelta(minutes=5))

    with serve(database_url) as base, signed_in(base, "desk", password) as (page, _):
        # The lenders' side, through the API: two loans, an inquiry, a relayed dispute.
        for key, ref, opened in ((owner_key, "O-1", 200), (second_key, "S-1", 100)):
            record = loan(
                ref,
                BORROWER,
                opened_on=(now.date() - timedelta(days=opened)).isoformat(),
                due_on=(now.date() + timedelta(days=200)).isoformat(),
                as_of=as_of,
                days_past_due=40 if ref == "O-1" else 0,
            )
            answer = _post(base, "/v1/loans", key, {"loans": [record]})
            assert answer.status_code == 200 and answer.json()["accepted"] == 1, answer.text
        body = {"borrower": BORROWER, "purpose": "new_credit", "consent_ref": "APP-77"}
        report = _post(base, "/v1/inquiries", asker_key, body).json()
        assert [t["lender"] for t in report["tradelines"]] == ["A", "B"]
        relayed = _post(
            base,
            "/v1/disputes",
            asker_key,
            {"inquiry_id": report["inquiry_id"], "tradeline": "A", "reason": "never 40 days late"},
        )
        assert relayed.status_code == 201, relayed.text
        dispute_id = relayed.json()["id"]

        # The operator finds it on the disputes page.
        page.locator("nav.mainnav a", has_text="Disputes").click()
        page.wait_for_url(f"{base}/console/disputes")
        row = page.locator(f'tr.dispute[data-id="{dispute_id}"]')
        expect(row).to_contain_text("Owner Finance")
        expect(row).to_contain_text("never 40 days late")
        page.screenshot(path=SHOTS / "disputes.png", full_page=True)

        # The borrower at the desk: look up, attach a statement.
        page.goto(f"{base}/console/borrowers")
        page.locator('#lookup-token input[name="token"]').fill(BORROWER)
        page.locator('#lookup-token input[name="reason"]').fill("borrower at the desk")
        page.locator('#lookup-token [type="submit"]').click()
        expect(page.locator("#borrower-disputes")).to_contain_text("never 40 days late")
        expect(page.locator("tbody.tradeline").first).to_contain_text("disputed")
        page.locator('#set-statement textarea[name="statement"]').fill(
            "Paid on time; the lender's system was wrong."
        )
        page.locator('#set-statement [type="submit"]').click()
        expect(page.locator(".flash").first).to_contain_text("Statement saved")

        # Look up again: the statement is there; open a second dispute at the desk.
        page.locator('#lookup-token input[name="reason"]').fill("borrower at the desk")
        page.locator('#lookup-token [type="submit"]').click()
        expect(page.locator("#current-statement")).to_have_text(
            "Paid on time; the lender's system was wrong."
        )
        page.locator('#open-dispute select[name="tradeline"]').select_option("second:B:S-1")
        page.locator('#open-dispute input[name="reason"]').fill("this loan was repaid")
        page.locator('#open-dispute [type="submit"]').click()
        page.wait_for_url(re.compile(rf"{re.escape(base)}/console/disputes/[0-9a-f-]{{36}}$"))
        expect(page.locator("#dispute-reason")).to_have_text("this loan was repaid")
        expect(page.locator("#dispute-status")).to_contain_text("open")

        # The owning lender answers the relayed one; the console lists it as answered.
        answer = _post(
            base,
            f"/v1/disputes/{dispute_id}/answer",
            owner_key,
            {"resolution": "confirmed", "note": "late as reported"},
        )
        assert answer.status_code == 200, answer.text
        page.goto(f"{base}/console/disputes")
        page.locator('#dispute-filters select[name="status"]').select_option("answered")
        page.locator('#dispute-filters [type="submit"]').click()
        expect(page.locator(f'tr.dispute[data-id="{dispute_id}"]')).to_contain_text(
            "late as reported"
        )
        expect(page.locator("tr.dispute")).to_have_count(1)

        # The disclosure: confirmed identity, then the print-ready report.
        page.goto(f"{base}/console/borrowers/{BORROWER}")
        page.locator('#lookup-token input[name="reason"]').fill("disclosure at the desk")
        page.locator('#lookup-token [type="submit"]').click()
        page.locator('#disclose input[name="identity_checked"]').check()
        page.locator('#disclose input[name="reference"]').fill("ID card checked, ticket 42")
        page.locator('#disclose [type="submit"]').click()
        disclosure = page.locator("#disclosure")
        expect(disclosure).to_contain_text("Owner Finance")
        expect(disclosure).to_contain_text("Second Credit")
        expect(disclosure).to_contain_text("Asking Bank")  # it asked about them
        expect(page.locator("#disclosure-statement")).to_contain_text("lender's system was wrong")
        expect(page.locator("#disclosure-disputes tbody tr")).to_have_count(2)
        expect(page.locator(".topbar")).to_be_visible()
        page.emulate_media(media="print")
        expect(page.locator(".topbar")).to_be_hidden()
        expect(disclosure).to_be_visible()
        page.pdf(path=str(SHOTS / "disclosure.pdf"))
        page.emulate_media(media="screen")
        page.screenshot(path=SHOTS / "disclosure.png", full_page=True)
