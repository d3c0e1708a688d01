"""The console's side of issue 9: the borrower page's tradelines with their 24-month grid and
the lenders' names, the newer summary figures and flags; lenders that exit (the action, its
audit event, the list); the policy's settings on the policy page."""

from __future__ import annotations

import re

from registry.models import Lender
from tests.console.helpers import audit_events, post
from tests.helpers import loan, token

B = token("console-tradelines")


def _report(client, lender, *records):
    for record in records:
        response = client.post("/v1/loans", json={"loans": [record]}, headers=lender.headers)
        assert response.status_code == 200 and not response.get_json()["rejected"]


def _seed(client, new_lender):
    alpha, beta = new_lender("alpha", "Alpha Lending"), new_lender("beta", "Beta Credit")
    _report(
        client,
        alpha,
        loan("A1", B, opened_on="2026-01-10", as_of="2026-09-15T12:00:00Z", days_past_due=75),
        loan("A1", B, opened_on="2026-01-10", as_of="2026-11-20T12:00:00Z"),
    )
    _report(
        client,
        beta,
        loan(
            "B1",
            B,
            product="credit_line",
            credit_limit=100_000,
            outstanding=95_000,
            opened_on="2025-03-01",
            due_on=None,
            as_of="2026-09-01T12:00:00Z",  # 85 days old: stale
        ),
    )
    return alpha, beta


def _look_up(client, reason="complaint 9"):
    return post(client, "/console/borrowers", {"token": B, "reason": reason})


def test_borrower_page_shows_tradelines_with_their_grid_and_lenders(client, console_as, new_lender):
    _seed(client, new_lender)
    html = _look_up(console_as("analyst")).get_data(as_text=True)
    rows = re.findall(r'<tbody class="tradeline">.*?</tbody>', html, re.S)
    assert len(rows) == 2
    # Labels in the order of each lender's earliest loan (beta's line opened first), with
    # the lender's name beside the label for the operator.
    assert "<strong>A</strong>" in rows[0] and "Beta Credit" in rows[0]
    assert "<strong>B</strong>" in rows[1] and "Alpha Lending" in rows[1]
    assert "stale" in rows[0] and "stale" not in rows[1]
    # The grid: 24 cells, oldest first, each coloured by its class and titled with its month.
    cells = re.findall(r'<span class="sg-cell sg-(\w)" title="(\d{4}-\d{2}): ([^"]+)">', rows[1])
    assert len(cells) == 24
    assert cells[0][1] == "2024-12" and cells[-1][1] == "2026-11"
    assert "".join(c[0] for c in cells) == "N" * 21 + "3N0"  # 2026-09: 61-90 days
    assert cells[21][2] == "61-90 days past due"
    assert "N" * 21 + "3N0" in rows[1]  # the string itself, for copying
    # The summary's newer figures and the flags as a lender's report would show them.
    assert 'id="worst-dpd">75 / 75<' in html
    for flag in ("PAST_DUE_HISTORY", "HIGH_UTILISATION"):
        assert flag in html
    assert "95.00% drawn" in html
    assert "<script>" not in html and 'style="' not in html  # the CSP allows neither


def test_borrower_page_says_when_a_lender_has_exited(client, console_as, new_lender, db_session):
    _seed(client, new_lender)
    admin = console_as("admin")
    assert post(admin, "/console/lenders/alpha/exit").status_code == 302
    html = _look_up(admin).get_data(as_text=True)
    rows = re.findall(r'<tbody class="tradeline">.*?</tbody>', html, re.S)
    assert "badge-exited" in rows[1] and "stale" in rows[1]


def test_an_admin_marks_a_lender_exited_once_and_it_is_audited(
    client, console_as, new_lender, engine
):
    new_lender("gone", "Gone Finance")
    admin = console_as("admin")
    page = admin.get("/console/lenders/gone").get_data(as_text=True)
    assert 'id="exit-lender"' in page
    response = post(admin, "/console/lenders/gone/exit", follow_redirects=True)
    html = response.get_data(as_text=True)
    assert "marked as exited" in html and 'id="exit-lender"' not in html
    assert 'id="exited"' in html
    again = post(admin, "/console/lenders/gone/exit", follow_redirects=True)
    assert "had already exited" in again.get_data(as_text=True)
    (event,) = audit_events(engine, "lender_exited")
    assert event.target == "gone" and event.actor.startswith("operator:")
    listing = admin.get("/console/lenders").get_data(as_text=True)
    row = re.search(r"<tr>\s*<td><a[^>]*>gone</a>.*?</tr>", listing, re.S)
    assert row and "badge-exited" in row[0]


def test_only_an_admin_may_mark_a_lender_exited(client, console_as, new_lender, db_session):
    new_lender("stays", "Stays Ltd")
    analyst = console_as("analyst")
    assert 'id="exit-lender"' not in analyst.get("/console/lenders/stays").get_data(as_text=True)
    assert post(analyst, "/console/lenders/stays/exit").status_code == 403
    lender = db_session.query(Lender).filter_by(code="stays").one()
    assert lender.exited_at is None
    db_session.rollback()


def test_policy_page_shows_and_saves_the_settings(client, console_as, engine):
    admin = console_as("admin")
    page = admin.get("/console/policy").get_data(as_text=True)
    for code in ("stale_after_days", "count_stale_loans", "LOAN_CYCLING", "HIGH_UTILISATION"):
        assert f'name="threshold_{code}"' in page
    form = dict(re.findall(r'name="(threshold_\w+)" value="(\d+)"', page))
    form |= {
        f"enabled_{name[len('threshold_') :]}": "on"
        for name in form
        if name[len("threshold_") :].isupper()
    }
    bad = post(admin, "/console/policy", {**form, "threshold_count_stale_loans": "2"})
    assert bad.status_code == 422 and "a whole number from 0 to 1" in bad.get_data(as_text=True)
    saved = post(
        admin,
        "/console/policy",
        {**form, "threshold_stale_after_days": "20", "threshold_count_stale_loans": "1"},
    )
    assert saved.status_code == 302
    events = audit_events(engine, "policy_changed")
    assert sorted(str(e.target) for e in events) == ["count_stale_loans", "stale_after_days"]


def test_a_look_up_is_no_inquiry_and_leaves_the_labels_to_the_report(
    client, console_as, new_lender
):
    alpha, _beta = _seed(client, new_lender)
    _look_up(console_as("analyst"))
    body = {"borrower": B, "purpose": "new_credit", "consent_ref": "c"}
    report = client.post("/v1/inquiries", json=body, headers=alpha.headers).get_json()
    assert report["summary"]["other_lenders_inquiring"]["1d"] == 0
    assert [(t["lender"], t["own"]) for t in report["tradelines"]] == [("A", False), ("B", True)]
