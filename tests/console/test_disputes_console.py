"""Disputes, statements and disclosures in the console (issue 11): opened and followed from
the borrower page and the disputes page, by the roles allowed, always by POST with the CSRF
token, every step audited. Frozen clock, both backends."""

from __future__ import annotations

import re
from datetime import timedelta

from tests.console.helpers import audit_events, post
from tests.helpers import NOW, loan, token

B = token("console-disputes")


def _report(client, lender, *records):
    response = client.post("/v1/loans", json={"loans": list(records)}, headers=lender.headers)
    assert response.status_code == 200 and not response.get_json()["rejected"]


def _look_up(operator, borrower=B):
    page = post(operator, "/console/borrowers", {"token": borrower, "reason": "desk visit"})
    assert page.status_code == 200, page.get_data(as_text=True)[:500]
    return page.get_data(as_text=True)


def _section(html, section_id):
    found = re.search(
        rf'<section class="card obligations" id="{section_id}">.*?</section>', html, re.S
    )
    assert found, f"no section {section_id}"
    return found[0]


def test_an_operator_opens_a_dispute_from_the_borrower_page(
    client, console_as, new_lender, engine, clock
):
    owner = new_lender("owner", "Owner Finance")
    _report(client, owner, loan("O-1", B, opened_on="2026-05-01", days_past_due=40))
    analyst = console_as("analyst")
    html = _look_up(analyst)
    form = _section(html, "borrower-disputes")
    assert 'value="owner:A:O-1"' in form  # the tradeline's lender, label and reference
    assert "No dispute of this borrower" in form

    opened = post(
        analyst,
        "/console/disputes",
        {"token": B, "tradeline": "owner:A:O-1", "reason": "paid in full in July"},
    )
    assert opened.status_code == 303
    detail = analyst.get(opened.headers["Location"])
    assert detail.status_code == 200
    page = detail.get_data(as_text=True)
    assert 'id="dispute-reason">paid in full in July<' in page
    assert "O-1" in page and "operator analyst1" in page
    [event] = audit_events(engine, "dispute_opened")
    assert event.actor == "operator:analyst1" and event.details["loan_ref"] == "O-1"
    assert event.details["inquiry_id"] is None

    # The owning lender sees it through the API, opened at the registry's desk.
    [item] = client.get("/v1/disputes", headers=owner.headers).get_json()["data"]
    assert item["opened_via"] == "registry" and item["loan_ref"] == "O-1"
    assert item["due_at"].startswith((NOW + timedelta(days=20)).date().isoformat())

    # The borrower page lists it now.
    assert "paid in full in July" in _section(_look_up(analyst), "borrower-disputes")

    # The disputes page: open, then overdue after the deadline, then answered.
    listing = analyst.get("/console/disputes?status=open").get_data(as_text=True)
    assert item["id"] in listing and "Owner Finance" in listing
    assert item["id"] not in analyst.get("/console/disputes?status=overdue").get_data(as_text=True)
    clock.set(NOW + timedelta(days=21))
    analyst = console_as("analyst")  # a new sign-in: three weeks outlast any session
    overdue = analyst.get("/console/disputes?status=overdue").get_data(as_text=True)
    assert item["id"] in overdue and "badge-overdue" in overdue
    answer = {"resolution": "confirmed", "note": "no payment received"}
    answered = client.post(f"/v1/disputes/{item['id']}/answer", json=answer, headers=owner.headers)
    assert answered.status_code == 200
    done = analyst.get("/console/disputes?status=answered").get_data(as_text=True)
    assert item["id"] in done and "no payment received" in done and ">late<" in done
    assert item["id"] not in analyst.get("/console/disputes?status=open").get_data(as_text=True)


def test_the_disputes_page_filters_by_lender_and_refuses_a_bad_status(
    client, console_as, new_lender
):
    alpha, beta = new_lender("alpha", "Alpha"), new_lender("beta", "Beta")
    _report(client, alpha, loan("A-1", B, opened_on="2026-01-01"))
    _report(client, beta, loan("B-1", B, opened_on="2026-02-01"))
    admin = console_as("admin")
    for tradeline in ("alpha:A:A-1", "beta:B:B-1"):
        response = post(
            admin, "/console/disputes", {"token": B, "tradeline": tradeline, "reason": "r"}
        )
        assert response.status_code == 303
    only_beta = admin.get("/console/disputes?lender=beta").get_data(as_text=True)
    assert "B-1" in only_beta and "A-1" not in only_beta
    assert admin.get("/console/disputes?status=closed").status_code == 422
    both = admin.get("/console/disputes").get_data(as_text=True)
    assert both.count('class="dispute') == 2


def test_who_may_do_what(client, console_as, new_lender, app, engine):
    owner = new_lender("owner")
    _report(client, owner, loan("O-1", B))
    auditor = console_as("auditor")
    assert auditor.get("/console/disputes").status_code == 200
    refused = post(
        auditor, "/console/disputes", {"token": B, "tradeline": "owner:A:O-1", "reason": "r"}
    )
    assert refused.status_code == 403
    for path, form in (
        ("/console/borrowers/statement", {"token": B, "statement": "mine"}),
        ("/console/borrowers/disclosure", {"token": B, "identity_checked": "yes"}),
    ):
        assert post(auditor, path, form).status_code == 403
    # Not signed in: the login page; no CSRF token: refused before anything happens.
    anonymous = app.test_client()
    assert anonymous.get("/console/disputes").status_code == 302
    admin = console_as("admin")
    no_csrf = admin.post(
        "/console/borrowers/disclosure", data={"token": B, "identity_checked": "yes"}
    )
    assert no_csrf.status_code == 400
    # A disclosure is never a GET side effect: there is no GET route for it.
    assert admin.get("/console/borrowers/disclosure").status_code in (404, 405)
    assert audit_events(engine, "disclosure") == []


def test_a_bad_dispute_form_is_refused(client, console_as, new_lender, engine):
    owner = new_lender("owner")
    _report(client, owner, loan("O-1", B))
    admin = console_as("admin")
    cases = [
        {"token": B, "tradeline": "owner:A:O-1", "reason": ""},
        {"token": B, "tradeline": "owner:A:NOPE", "reason": "r"},
        {"token": B, "tradeline": "nobody:A:O-1", "reason": "r"},
        {"token": token("other"), "tradeline": "owner:A:O-1", "reason": "r"},
        {"token": "xyz", "tradeline": "owner:A:O-1", "reason": "r"},
    ]
    for form in cases:
        assert post(admin, "/console/disputes", form).status_code == 422, form
    assert audit_events(engine, "dispute_opened") == []


def test_a_statement_is_attached_shown_and_removed(client, console_as, new_lender, engine):
    owner = new_lender("owner")
    _report(client, owner, loan("O-1", B))
    analyst = console_as("analyst")
    too_long = post(analyst, "/console/borrowers/statement", {"token": B, "statement": "x" * 201})
    assert too_long.status_code == 422
    saved = post(
        analyst,
        "/console/borrowers/statement",
        {"token": B, "statement": "  I lost my job in May;\n repaying since August. "},
    )
    assert saved.status_code == 303 and saved.headers["Location"].endswith(
        f"/console/borrowers/{B}"
    )
    section = _section(_look_up(analyst), "borrower-statement")
    assert ">I lost my job in May; repaying since August.<" in section
    assert 'id="remove-statement"' in section
    removed = post(analyst, "/console/borrowers/statement", {"token": B, "action": "remove"})
    assert removed.status_code == 303
    assert "No statement attached" in _section(_look_up(analyst), "borrower-statement")
    assert (
        post(analyst, "/console/borrowers/statement", {"token": B, "action": "remove"}).status_code
        == 404
    )
    [set_event] = audit_events(engine, "statement_set")
    assert set_event.target == B and set_event.actor == "operator:analyst1"
    assert set_event.details["text"] == "I lost my job in May; repaying since August."
    [removed_event] = audit_events(engine, "statement_removed")
    assert removed_event.details["text"] == "I lost my job in May; repaying since August."


def test_a_disclosure_needs_the_identity_confirmed_and_is_audited(
    client, console_as, new_lender, engine
):
    owner = new_lender("owner", "Owner Finance")
    _report(client, owner, loan("O-1", B, opened_on="2026-05-01"))
    body = {"borrower": B, "purpose": "account_review"}
    assert client.post("/v1/inquiries", json=body, headers=owner.headers).status_code == 200
    analyst = console_as("analyst")
    unconfirmed = post(analyst, "/console/borrowers/disclosure", {"token": B})
    assert unconfirmed.status_code == 422
    assert audit_events(engine, "disclosure") == []
    page = post(
        analyst,
        "/console/borrowers/disclosure",
        {"token": B, "identity_checked": "yes", "reference": "ID card checked, ticket 7"},
    )
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert 'id="disclosure"' in html and "Owner Finance" in html and "O-1" in html
    assert "review of an account you hold" in html  # the account_review inquiry
    assert "ID card checked, ticket 7" in html and "征信业管理条例" in html
    assert "obligations.css" in html
    with analyst.get("/console/static/console/obligations.css") as stylesheet:
        assert "@media print" in stylesheet.get_data(as_text=True)
    [event] = audit_events(engine, "disclosure")
    assert event.target == B and event.actor == "operator:analyst1"
    assert event.details == {
        "reference": "ID card checked, ticket 7",
        "tradelines": 1,
        "inquiries": 1,
        "disputes": 0,
    }


def test_the_borrower_page_marks_a_disputed_tradeline(client, console_as, new_lender):
    owner = new_lender("owner")
    _report(client, owner, loan("O-1", B))
    admin = console_as("admin")
    assert 'badge-disputed">disputed<' not in _look_up(admin)
    form = {"token": B, "tradeline": "owner:A:O-1", "reason": "not mine"}
    assert post(admin, "/console/disputes", form).status_code == 303
    assert "disputed</span>" in _look_up(admin).split('id="borrower-disputes"')[0]
