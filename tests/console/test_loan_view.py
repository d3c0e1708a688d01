"""The console's view of one loan (issue 9): its reports, monthly statuses, the reports that
corrections replaced (never in a report, shown here), and retractions, reached from a
tradeline or the lender page, always with a stated reason and audited."""

from __future__ import annotations

import re

from tests.console.helpers import audit_events, post
from tests.helpers import loan, token

B = token("console-loan-view")


def _report(client, lender, *records):
    response = client.post("/v1/loans", json={"loans": list(records)}, headers=lender.headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_a_loans_reports_corrections_and_months_with_an_audited_reason(
    client, console_as, new_lender, engine
):
    alpha = new_lender("alpha", "Alpha Lending")
    _report(
        client,
        alpha,
        loan("A1", B, opened_on="2026-08-01", as_of="2026-09-15T12:00:00Z", days_past_due=45),
        loan("A1", B, opened_on="2026-08-01", as_of="2026-10-15T12:00:00Z"),
    )
    # The September report was wrong: it was 15 days late, not 45.
    fixed = _report(
        client,
        alpha,
        loan(
            "A1",
            B,
            opened_on="2026-08-01",
            as_of="2026-09-15T12:00:00Z",
            days_past_due=15,
            correction=True,
        ),
    )
    assert not fixed["rejected"]
    analyst = console_as("analyst")
    refused = post(analyst, "/console/loans", {"lender": "alpha", "loan_ref": "A1"})
    assert refused.status_code == 422  # no reason, nothing shown
    page = post(
        analyst, "/console/loans", {"lender": "alpha", "loan_ref": "A1", "reason": "dispute D-9"}
    )
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="loan-reason">dispute D-9<' in html
    history = re.search(r'<section class="card" id="history">.*?</section>', html, re.S)
    assert history and history[0].count("<tr><td") == 2 and "corrected" in history[0]
    trail = re.search(r'<section class="card" id="corrections">.*?</section>', html, re.S)
    assert trail and "days_past_due=45" in trail[0]
    months = re.search(r'<section class="card" id="months">.*?</section>', html, re.S)
    assert months and "<code>2026-09</code> 1 (15 days)" in months[0]
    [event] = audit_events(engine, "loan_lookup")
    assert event.target == "loan:alpha/A1" and event.details["reason"] == "dispute D-9"


def test_a_retracted_loan_shows_its_tombstone(client, console_as, new_lender):
    alpha = new_lender("alpha")
    _report(client, alpha, loan("A2", B))
    gone = client.delete("/v1/loans/A2", json={"reason": "wrong_borrower"}, headers=alpha.headers)
    assert gone.status_code == 200
    html = post(
        console_as("admin"), "/console/loans", {"lender": "alpha", "loan_ref": "A2", "reason": "x"}
    ).get_data(as_text=True)
    assert 'id="retractions"' in html and "wrong_borrower" in html
    assert 'id="history"' not in html


def test_unknown_loans_are_404_and_auditors_may_not_look(client, console_as, new_lender):
    new_lender("alpha")
    analyst = console_as("analyst")
    missing = post(analyst, "/console/loans", {"lender": "alpha", "loan_ref": "NO", "reason": "x"})
    assert missing.status_code == 404
    auditor = console_as("auditor")
    denied = post(auditor, "/console/loans", {"lender": "alpha", "loan_ref": "NO", "reason": "x"})
    assert denied.status_code == 403


def test_tradelines_and_the_lender_page_lead_to_the_loan(client, console_as, new_lender):
    alpha = new_lender("alpha")
    _report(client, alpha, loan("A3", B))
    analyst = console_as("analyst")
    borrower = post(analyst, "/console/borrowers", {"token": B, "reason": "complaint 1"})
    html = borrower.get_data(as_text=True)
    assert 'name="loan_ref" value="A3"' in html and 'name="reason" value="complaint 1"' in html
    lender_page = analyst.get("/console/lenders/alpha").get_data(as_text=True)
    assert 'id="loan-lookup"' in lender_page
