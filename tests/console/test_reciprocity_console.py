"""The lender page's give-to-get section: the lender's exemption, its last accepted upload, its
new-credit inquiries per reported loan; admins exempt it or end its exemption (audited),
analysts only read."""

from __future__ import annotations

import re

from tests.console.helpers import audit_events, post
from tests.helpers import loan, token


def cell(page: str, cell_id: str) -> str:
    match = re.search(rf'id="{cell_id}"[^>]*>([^<]*)<', page)
    assert match, cell_id
    return match.group(1).strip()


def test_the_section_shows_inquiries_per_reported_loan(console_as, client, new_lender):
    acme = new_lender("acme", exempt=False)
    loans = [loan(f"L-{n}", n) for n in range(4)]
    assert client.post("/v1/loans", json={"loans": loans}, headers=acme.headers).status_code == 200
    for n in range(2):
        body = {"borrower": token(n), "purpose": "new_credit", "consent_ref": "c"}
        assert client.post("/v1/inquiries", json=body, headers=acme.headers).status_code == 200
    page = console_as("analyst").get("/console/lenders/acme").get_data(as_text=True)
    assert cell(page, "inquiries-per-loan") == "0.50"
    assert cell(page, "exemption") == "none" and cell(page, "reciprocity-standing") == "allowed"
    assert 'id="exemption-form"' not in page  # analysts read, admins act


def test_an_admin_exempts_a_lender_and_ends_it(console_as, client, new_lender, engine):
    late = new_lender("late", exempt=False)
    body = {"borrower": token(1), "purpose": "new_credit", "consent_ref": "c"}
    assert client.post("/v1/inquiries", json=body, headers=late.headers).status_code == 403
    admin = console_as("admin")
    page = admin.get("/console/lenders/late").get_data(as_text=True)
    assert cell(page, "reciprocity-standing") == "refused" and 'id="exemption-form"' in page

    response = post(admin, "/console/lenders/late/exemption", {"until": "2100-01-01"})
    assert response.status_code == 302
    page = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert "late is exempt until 2100-01-01" in page
    assert cell(page, "exemption") == "until 2100-01-01T00:00:00Z"
    assert client.post("/v1/inquiries", json=body, headers=late.headers).status_code == 200

    response = post(admin, "/console/lenders/late/exemption", {"clear": "1"})
    page = admin.get(response.headers["Location"]).get_data(as_text=True)
    assert "late is no longer exempt" in page and cell(page, "exemption") == "none"
    assert client.post("/v1/inquiries", json=body, headers=late.headers).status_code == 403
    (granted,) = audit_events(engine, "lender_exempted")
    (ended,) = audit_events(engine, "lender_exemption_ended")
    assert granted.actor == ended.actor == "operator:admin1" and granted.target == "late"


def test_bad_dates_are_refused_past_ones_change_nothing_and_analysts_may_not_exempt(
    console_as, new_lender, engine
):
    new_lender("late", exempt=False)
    admin = console_as("admin")
    for bad, said in (("soon", "a date, YYYY-MM-DD"), ("2001-01-01", "Nothing to change")):
        response = post(admin, "/console/lenders/late/exemption", {"until": bad})
        assert said in admin.get(response.headers["Location"]).get_data(as_text=True)
    analyst = console_as("analyst")
    assert (
        post(analyst, "/console/lenders/late/exemption", {"until": "2100-01-01"}).status_code == 403
    )
    assert audit_events(engine, "lender_exempted") == []
