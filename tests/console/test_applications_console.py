"""The console's side of issue 10: each inquiry's outcome on the inquiries page (and its
filter), a lender's outcome rate and expired provisional loans (and their part of its
data-quality score), a borrower's applications and provisional loans, the dashboard's
applications per day by outcome; declines shown to operators, phone tokens to nobody.

Inquiries, outcomes and phone sightings are written straight into their tables (with the
times each test needs); loans go through the API, as a lender reports them."""

from __future__ import annotations

import csv
import io
import re
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update

from registry.models import (
    ApplicationOutcome,
    BorrowerPhone,
    Inquiry,
    Lender,
    PhoneBorrower,
    PolicyRule,
)
from registry.services.dashboard import lender_stats
from tests.console.helpers import post
from tests.helpers import NOW, loan, token

B = token("applicant")
PHONE = token("applicant-phone")  # a phone token: never on any page


def inquire(
    session: Any,
    lender: Any,
    borrower: str,
    at: datetime,
    purpose: str = "new_credit",
    amount: int | None = 300_000,
) -> str:
    inquiry_id = str(uuid.uuid4())
    session.add(
        Inquiry(
            borrower=bytes.fromhex(borrower),
            id=inquiry_id,
            lender_id=lender.id,
            purpose=purpose,
            consent_ref="consent-1" if purpose == "new_credit" else None,
            amount_requested=amount,
            currency="CNY" if amount else None,
            flags=[],
            created_at=at,
            report={},
        )
    )
    session.commit()
    return inquiry_id


def decide(
    session: Any,
    lender: Any,
    borrower: str,
    inquiry_id: str,
    outcome: str,
    at: datetime,
    loan_ref: str | None = None,
    amount: int | None = None,
) -> None:
    session.add(
        ApplicationOutcome(
            borrower=bytes.fromhex(borrower),
            inquiry_id=inquiry_id,
            lender_id=lender.id,
            outcome=outcome,
            loan_ref=loan_ref,
            amount=amount,
            currency="CNY" if amount else None,
            inquired_at=at,
            recorded_at=at,
        )
    )
    session.commit()


def approve(
    session: Any, lender: Any, borrower: str, at: datetime, loan_ref: str, amount: int = 500_000
) -> str:
    """An application made and approved at `at`: a provisional loan from then."""
    inquiry_id = inquire(session, lender, borrower, at)
    decide(session, lender, borrower, inquiry_id, "approved", at, loan_ref, amount)
    return inquiry_id


def report(client: Any, lender: Any, *records: dict[str, Any]) -> None:
    response = client.post("/v1/loans", json={"loans": list(records)}, headers=lender.headers)
    assert response.status_code == 200 and not response.get_json()["rejected"], response.data


def section(html: str, element_id: str) -> str:
    """The HTML of the element with `element_id`, up to its section's or figure's end."""
    start = html.index(f'id="{element_id}"')
    ends = [html.find(end, start) for end in ("</section>", "</figure>")]
    return html[start : min(e for e in ends if e >= 0)]


def first(pattern: str, text: str) -> str:
    """The first group of `pattern`'s first match in `text` (which must match)."""
    match = re.search(pattern, text, re.S)
    assert match, f"{pattern!r} not found"
    return match[1]


def body_rows(html: str) -> list[str]:
    tbody = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return re.findall(r"<tr[ >].*?</tr>", tbody, re.S)


def seen_phone(session: Any, borrower: str) -> None:
    for table in (BorrowerPhone, PhoneBorrower):
        session.add(
            table(
                borrower=bytes.fromhex(borrower),
                phone=bytes.fromhex(PHONE),
                first_seen_at=NOW,
                last_seen_at=NOW,
            )
        )
    session.commit()


# --- the inquiries page ----------------------------------------------------------------------


def test_inquiries_page_shows_each_outcome_and_filters_by_it(console_as, new_lender, db_session):
    alpha = new_lender("alpha")
    hour = timedelta(hours=1)
    approved = approve(db_session, alpha, B, NOW - 5 * hour, "ALPHA-7", 1_234_500)
    declined = inquire(db_session, alpha, token(2), NOW - 4 * hour)
    decide(db_session, alpha, token(2), declined, "declined", NOW - 4 * hour)
    withdrawn = inquire(db_session, alpha, token(3), NOW - 3 * hour)
    decide(db_session, alpha, token(3), withdrawn, "withdrawn", NOW - 3 * hour)
    pending = inquire(db_session, alpha, token(4), NOW - 2 * hour)
    review = inquire(db_session, alpha, token(5), NOW - hour, purpose="account_review")
    auditor = console_as("auditor")

    html = auditor.get("/console/inquiries").get_data(as_text=True)
    rows = body_rows(html)
    assert len(rows) == 5
    cells = [first(r'<td class="outcome">(.*?)</td>', row) for row in rows]
    # Newest first: the account review, then the pending, withdrawn, declined and approved.
    assert "n/a" in cells[0] and "data-outcome" not in cells[0]
    assert 'data-outcome="none"' in cells[1]
    assert 'data-outcome="withdrawn"' in cells[2] and 'data-outcome="declined"' in cells[3]
    assert 'data-outcome="approved"' in cells[4]
    assert "ALPHA-7" in cells[4] and "12,345.00 CNY" in cells[4]

    def filtered(outcome: str) -> list[str]:
        page = auditor.get(f"/console/inquiries?outcome={outcome}")
        assert page.status_code == 200
        text = page.get_data(as_text=True)
        return body_rows(text) if "<tbody>" in text else []

    assert [token(3)[:12] in r for r in filtered("withdrawn")] == [True]
    assert [token(2)[:12] in r for r in filtered("declined")] == [True]
    only_approved = filtered("approved")
    assert len(only_approved) == 1 and "ALPHA-7" in only_approved[0]
    # "none": applications with no outcome yet; an account review is no application.
    assert [token(4)[:12] in r for r in filtered("none")] == [True]
    with_purpose = auditor.get("/console/inquiries?outcome=none&purpose=account_review")
    assert "No inquiries match" in with_purpose.get_data(as_text=True)
    # The pager and the export keep the filter.
    assert 'name="outcome"' in html and '<option value="approved">' in html
    selected = auditor.get("/console/inquiries?outcome=declined").get_data(as_text=True)
    assert '<option value="declined" selected>' in selected
    assert "outcome=declined" in selected.split('id="export-csv"', 1)[1].split(">", 1)[0]

    bad = auditor.get("/console/inquiries?outcome=maybe")
    assert bad.status_code == 422 and 'id="outcome-error"' in bad.get_data(as_text=True)

    with auditor.get("/console/inquiries.csv?outcome=approved") as response:
        table = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    header = table[0]
    assert header[-4:] == ["outcome", "outcome_loan_ref", "outcome_amount", "outcome_currency"]
    assert len(table) == 2 and table[1][1] == approved
    assert table[1][-4:] == ["approved", "ALPHA-7", "1234500", "CNY"]
    with auditor.get("/console/inquiries.csv") as response:
        everything = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    by_id = {row[1]: row[-4] for row in everything[1:]}
    assert by_id == {
        approved: "approved",
        declined: "declined",
        withdrawn: "withdrawn",
        pending: "",
        review: "",
    }


# --- the lender page -------------------------------------------------------------------------


def test_lender_page_outcome_rate_against_a_hand_count(console_as, new_lender, db_session):
    alpha, beta = new_lender("alpha"), new_lender("beta")
    # (when, outcome or None) of alpha's applications; the first is exactly 30 days old.
    applications = [
        (NOW - timedelta(days=30), "approved"),
        (NOW - timedelta(days=12), "declined"),
        (NOW - timedelta(days=3), "approved"),
        (NOW - timedelta(days=2), None),
        (NOW - timedelta(hours=1), None),
        (NOW - timedelta(days=30, seconds=1), "withdrawn"),  # out of the window
    ]
    for n, (at, outcome) in enumerate(applications):
        inquiry_id = inquire(db_session, alpha, token(n), at)
        if outcome == "approved":
            decide(db_session, alpha, token(n), inquiry_id, outcome, at, f"A-{n}", 100_000)
        elif outcome:
            decide(db_session, alpha, token(n), inquiry_id, outcome, at)
    inquire(db_session, alpha, token(9), NOW, purpose="account_review")  # no application
    other = inquire(db_session, beta, token(1), NOW)  # another lender's
    decide(db_session, beta, token(1), other, "declined", NOW)

    window = [o for at, o in applications if at >= NOW - timedelta(days=30)]
    decided = [o for o in window if o]
    assert (len(window), len(decided)) == (5, 3)  # the hand count

    html = console_as("analyst").get("/console/lenders/alpha").get_data(as_text=True)
    rate = section(html, "outcome-rate")
    assert 'id="outcome-rate-value">60%<' in rate
    assert 'id="outcome-rate-counts">3 of 5<' in rate
    assert 'id="outcomes-approved">2<' in rate and 'id="outcomes-declined">1<' in rate
    assert 'id="outcomes-withdrawn">0<' in rate and 'id="outcomes-none">2<' in rate
    assert 'id="new-credit-count">5<' in html  # the same window as the purposes' count

    quiet = console_as("analyst").get("/console/lenders/beta").get_data(as_text=True)
    assert 'id="outcome-rate-counts">1 of 1<' in section(quiet, "outcome-rate")


def test_expired_provisional_loans_listed_from_the_boundary(
    client, clock, console_as, new_lender, db_session
):
    alpha, beta = new_lender("alpha"), new_lender("beta")
    days = timedelta(days=14)  # provisional_days, the policy's default
    approve(db_session, alpha, token(1), NOW - days - timedelta(seconds=1), "GONE-1")
    approve(db_session, alpha, token(2), NOW - days, "EDGE-1")  # its last provisional moment
    approve(db_session, alpha, token(3), NOW - timedelta(days=20), "KEPT-1")
    approve(db_session, alpha, token(4), NOW - timedelta(days=20), "ELSEWHERE-1", 777_700)
    approve(db_session, beta, token(5), NOW - timedelta(days=20), "BETA-1")  # beta's
    refused = inquire(db_session, alpha, token(6), NOW - timedelta(days=20))
    decide(db_session, alpha, token(6), refused, "declined", NOW - timedelta(days=20))
    # KEPT-1 reported for its borrower; ELSEWHERE-1's ref reported, but for another borrower.
    report(client, alpha, loan("KEPT-1", 3), loan("ELSEWHERE-1", 7))

    analyst = console_as("analyst")
    expired = section(
        analyst.get("/console/lenders/alpha").get_data(as_text=True), "expired-provisional"
    )
    assert 'id="expired-provisional-count">2<' in expired and "of 3 approvals" in expired
    rows = re.findall(r'<tr class="expired-loan">.*?</tr>', expired, re.S)
    assert len(rows) == 2
    # The latest first; each with its approval, end of provisional days and amount.
    assert "GONE-1" in rows[0] and "ELSEWHERE-1" in rows[1]
    gone_at = NOW - days - timedelta(seconds=1)
    assert gone_at.strftime("%Y-%m-%dT%H:%M:%SZ") in rows[0]
    assert (gone_at + days).strftime("%Y-%m-%dT%H:%M:%SZ") in rows[0]
    assert "7,777.00 CNY" in rows[1] and token(4)[:12] in rows[1]
    assert "EDGE-1" not in expired and "KEPT-1" not in expired and "BETA-1" not in expired

    # A second later the boundary approval has expired too.
    clock.advance(timedelta(seconds=1))
    later = section(
        analyst.get("/console/lenders/alpha").get_data(as_text=True), "expired-provisional"
    )
    assert 'id="expired-provisional-count">3<' in later and "EDGE-1" in later

    # A longer provisional_days (policy) makes them provisional again.
    db_session.execute(
        update(PolicyRule).where(PolicyRule.code == "provisional_days").values(threshold=30)
    )
    db_session.commit()
    longer = section(
        analyst.get("/console/lenders/alpha").get_data(as_text=True), "expired-provisional"
    )
    assert 'id="expired-provisional-count">0<' in longer and "(30 days, policy)" in longer
    assert "expired-loan" not in longer


def test_expired_provisional_loans_lower_the_data_quality_score(
    client, console_as, new_lender, db_session
):
    alpha = new_lender("alpha")
    report(client, alpha, loan("A-1", 1))  # a clean submission: every other part is perfect

    def quality() -> Any:
        try:
            return lender_stats(db_session, db_session.get(Lender, alpha.id), NOW).quality
        finally:
            db_session.rollback()

    assert quality().score == 100 and quality().parts["P"] == 0.0
    # Reported after approval: no harm. Still provisional: not due yet.
    approve(db_session, alpha, token(1), NOW - timedelta(days=20), "A-1")
    approve(db_session, alpha, token(2), NOW - timedelta(days=1), "A-2")
    assert (quality().score, quality().approvals_due, quality().expired_provisional) == (100, 1, 0)
    # One approval of the two due never reported: P = 1/2, the score loses 0.1 x 1/2.
    approve(db_session, alpha, token(3), NOW - timedelta(days=15), "A-3")
    q = quality()
    assert (q.approvals_due, q.expired_provisional, q.parts["P"]) == (2, 1, 0.5)
    assert q.score == 95

    html = console_as("analyst").get("/console/lenders/alpha").get_data(as_text=True)
    assert re.search(r'<span class="big">95</span>', html)
    assert "+ 0.1 x (1 - P)" in html and "expired provisional loans" in html
    assert (
        'id="quality-p">0.500<' in html and "1 of 2 approvals past their provisional days" in html
    )


# --- the borrower page -----------------------------------------------------------------------


def test_borrower_page_shows_applications_and_provisional_loans(
    client, console_as, new_lender, db_session
):
    alpha, beta, gamma, delta = (
        new_lender(c, f"{c.title()} Credit") for c in ("alpha", "beta", "gamma", "delta")
    )
    fresh = NOW - timedelta(hours=1)
    approve(db_session, alpha, B, fresh, "ALPHA-9", 300_000)
    approve(db_session, alpha, B, NOW - timedelta(days=3), "ALPHA-8", 250_000)
    report(client, alpha, loan("ALPHA-8", B))  # replaced by its loan
    approve(db_session, gamma, B, NOW - timedelta(days=20), "GAMMA-1", 410_000)  # expired
    refused = inquire(db_session, beta, B, NOW - timedelta(hours=2), amount=990_000)
    decide(db_session, beta, B, refused, "declined", NOW - timedelta(hours=2))
    inquire(db_session, delta, B, NOW - timedelta(minutes=30), amount=120_000)  # no outcome
    inquire(db_session, delta, B, NOW - timedelta(minutes=10), purpose="account_review")
    inquire(db_session, alpha, token("someone else"), NOW)
    seen_phone(db_session, B)

    html = post(console_as("analyst"), "/console/borrowers", {"token": B, "reason": "dispute 4"})
    assert html.status_code == 200
    page = html.get_data(as_text=True)

    applications = re.findall(
        r'<tr class="application">.*?</tr>', section(page, "applications"), re.S
    )
    assert len(applications) == 5  # new_credit only; the account review is not one
    outcomes = [first(r'data-outcome="(\w+)"', row) for row in applications]
    # Newest first: delta (none), alpha's ALPHA-9, beta's decline (shown to operators),
    # alpha's ALPHA-8, gamma's GAMMA-1.
    assert outcomes == ["none", "approved", "declined", "approved", "approved"]
    assert "delta" in applications[0] and "1,200.00 CNY" in applications[0]
    assert (
        "ALPHA-9" in applications[1]
        and "beta" in applications[2]
        and "9,900.00 CNY" in applications[2]
    )

    loans = re.findall(
        r'<tr class="provisional-loan" data-status="(\w+)">(.*?)</tr>',
        section(page, "provisional-loans"),
        re.S,
    )
    assert [status for status, _ in loans] == ["provisional", "reported", "expired"]
    (_, alpha9), (_, alpha8), (_, gamma1) = loans
    assert "ALPHA-9" in alpha9 and "Alpha Credit" in alpha9 and "3,000.00 CNY" in alpha9
    until = (fresh + timedelta(days=14)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert until in alpha9
    assert "ALPHA-8" in alpha8 and "2,500.00 CNY" in alpha8
    assert "GAMMA-1" in gamma1 and "Gamma Credit" in gamma1 and "4,100.00 CNY" in gamma1
    assert "BETA" not in section(page, "provisional-loans")  # a decline is no loan
    assert PHONE not in page and PHONE[:12] not in page


# --- the dashboard ---------------------------------------------------------------------------


def test_dashboard_charts_applications_per_day_by_outcome(console_as, new_lender, db_session):
    alpha, beta = new_lender("alpha"), new_lender("beta")
    today, yesterday = NOW - timedelta(hours=2), NOW - timedelta(days=1)
    first_day = datetime.combine((NOW - timedelta(days=29)).date(), datetime.min.time(), NOW.tzinfo)

    def application(lender: Any, n: int, at: datetime, outcome: str | None) -> None:
        inquiry_id = inquire(db_session, lender, token(n), at)
        if outcome:
            ref, amount = (f"R-{n}", 100_000) if outcome == "approved" else (None, None)
            decide(db_session, lender, token(n), inquiry_id, outcome, at, ref, amount)

    application(alpha, 1, today, "approved")
    application(beta, 2, today, "approved")
    application(alpha, 3, today, None)
    application(alpha, 4, yesterday, "declined")
    application(beta, 5, yesterday, "withdrawn")
    application(beta, 6, yesterday, "declined")
    application(alpha, 7, first_day, None)  # the first day of the 30
    application(alpha, 8, first_day - timedelta(seconds=1), "approved")  # the day before
    inquire(db_session, alpha, token(9), today, purpose="account_review")  # no application

    html = console_as("analyst").get("/console/").get_data(as_text=True)
    chart = re.search(r'<svg id="chart-applications".*?</svg>', html, re.S)
    assert chart, "applications chart missing"
    segments = {
        (series, day): int(value)
        for series, day, value in re.findall(
            r'<rect class="segment [^"]+"[^>]*data-series="([^"]+)" data-day="([^"]+)" '
            r'data-value="(\d+)"',
            chart[0],
        )
    }
    d = {"today": today.date().isoformat(), "yesterday": yesterday.date().isoformat()}
    assert segments == {
        ("Approved", d["today"]): 2,
        ("No outcome yet", d["today"]): 1,
        ("Declined", d["yesterday"]): 2,
        ("Withdrawn", d["yesterday"]): 1,
        ("No outcome yet", first_day.date().isoformat()): 1,
    }
    # Colours by meaning, from the stylesheet: no style attribute (the CSP forbids them).
    assert re.search(r'class="segment series-2"[^>]*data-series="Approved"', chart[0])
    assert re.search(r'class="segment series-3"[^>]*data-series="Declined"', chart[0])
    assert "style=" not in chart[0]
    legend = section(html, "applications")
    totals = dict(re.findall(r'data-outcome="(\w+)">(\d+)<', legend))
    assert totals == {"approved": "2", "declined": "2", "withdrawn": "1", "none": "2"}
    assert "Approved: 2, Declined: 2, Withdrawn: 1, No outcome yet: 2" in chart[0]


# --- declines and phones ---------------------------------------------------------------------


def test_declines_are_shown_to_operators_and_no_page_shows_a_phone_token(
    client, console_as, new_lender, db_session
):
    alpha = new_lender("alpha")
    refused = inquire(db_session, alpha, B, NOW - timedelta(days=1))
    decide(db_session, alpha, B, refused, "declined", NOW - timedelta(days=1))
    approve(db_session, alpha, B, NOW - timedelta(days=20), "A-20")
    report(client, alpha, loan("A-1", B))
    seen_phone(db_session, B)
    admin = console_as("admin")
    pages = {
        path: admin.get(path).get_data(as_text=True)
        for path in (
            "/console/",
            "/console/inquiries",
            "/console/inquiries.csv",
            "/console/lenders",
            "/console/lenders/alpha",
            "/console/audit",
        )
    }
    pages["look-up"] = post(admin, "/console/borrowers", {"token": B, "reason": "check"}).get_data(
        as_text=True
    )
    assert 'data-outcome="declined"' in pages["/console/inquiries"]
    assert 'data-outcome="declined"' in pages["look-up"]
    assert "declined" in pages["/console/inquiries.csv"]
    for name, text in pages.items():
        assert PHONE not in text and PHONE[:12] not in text, name
