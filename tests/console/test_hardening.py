"""Hardening of the console (issue 12): a bad `next` after login and CSV cells that a
spreadsheet would run as formulas."""

from __future__ import annotations

import pytest

from registry.services.inquiry_log import _cell
from tests.console.helpers import PASSWORD, csrf_of


def sign_in_then(client, target: str):
    """Ada's sign-in, asking to go on to `target` afterwards."""
    form = {"username": "ada", "password": PASSWORD, "totp": "", "next": target}
    return client.post("/console/login", data={**form, "csrf_token": csrf_of(client)})


@pytest.mark.parametrize(
    "target",
    [
        "/console/lenders\r\nSet-Cookie: x=1",
        "/console/lenders\n",
        "//evil.example/console/",
        "https://evil.example/console/",
        "/console/..\\..\\evil",
        "/api/elsewhere",
    ],
)
def test_a_bad_next_after_login_goes_to_the_dashboard_never_a_500(client, make_operator, target):
    make_operator("ada")
    response = sign_in_then(client, target)
    assert response.status_code == 302
    assert response.headers["Location"].rstrip("/").endswith("/console")


def test_a_nul_in_the_form_is_refused_with_a_4xx(client, make_operator):
    make_operator("ada")
    assert sign_in_then(client, "/console/\x00").status_code == 400


def test_a_good_next_after_login_is_followed(client, make_operator):
    make_operator("ada")
    response = sign_in_then(client, "/console/lenders?status=active")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/console/lenders?status=active")


@pytest.mark.parametrize(
    "value",
    ["=2+2", " =2+2", "\u00a0=2+2", "+1", "-1+1", "@SUM(A1)", "\t=1", "x;=1+1", "a,=1", "a| -1"],
)
def test_csv_cells_that_could_start_a_formula_are_quoted(value):
    assert _cell(value) == "'" + value


@pytest.mark.parametrize("value", ["APP-2026-11-01", "consent 7", "", "a;b", "x=1", "1+1"])
def test_ordinary_csv_cells_are_left_alone(value):
    assert _cell(value) == value


def test_pager_links_carry_only_the_pages_own_filters(console_as, db_session):
    from registry.db import transaction
    from registry.services import audit
    from tests.helpers import NOW

    with transaction(db_session):
        for n in range(60):  # more than one page of 50
            audit.record(db_session, audit.CLI, "probe", NOW, target=f"t{n}")
    client = console_as("admin")
    query = "?action=probe&_external=1&_anchor=x&_scheme=javascript&endpoint=console.login"
    response = client.get(f"/console/audit{query}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'href="/console/audit?action=probe&amp;page=2"' in page
    for leaked in ("_external", "_anchor", "javascript", "endpoint=", "http://localhost"):
        assert leaked not in page.split('class="pager"', 1)[1].split("</nav>", 1)[0]


def test_an_admin_sets_a_lenders_quotas_from_its_page(client, console_as, new_lender, engine):
    from tests.console.helpers import audit_events, post

    new_lender("acme")
    admin = console_as("admin")
    page = admin.get("/console/lenders/acme").get_data(as_text=True)
    assert 'id="quota-form"' in page
    saved = post(
        admin,
        "/console/lenders/acme/quotas",
        {"inquiries_per_day": "500", "inquiry_burst_per_minute": "", "upload_records_per_day": "0"},
    )
    assert saved.status_code == 302
    page = admin.get("/console/lenders/acme").get_data(as_text=True)
    quotas = page.split('id="quotas"', 1)[1].split("</section>", 1)[0]
    assert '<td>Inquiries per UTC day</td><td class="num">500</td>' in quotas
    [event] = audit_events(engine, "lender_quotas")
    assert event.details == {"inquiries_per_day": 500, "upload_records_per_day": 0}
    analyst = console_as("analyst")
    assert 'id="quota-form"' not in analyst.get("/console/lenders/acme").get_data(as_text=True)
    denied = post(analyst, "/console/lenders/acme/quotas", {"inquiries_per_day": "1"})
    assert denied.status_code == 403
