"""Console pages: each role sees its pages and is refused the others; the figures are
right; look-ups, exports and the audit log work."""

from __future__ import annotations

import csv
import io
import re
import time
from datetime import timedelta

import pytest

from tests.console.helpers import audit_events, post
from tests.helpers import loan, token

TOKEN = token(1)
# page -> roles allowed to open it
PAGES = {
    "/console/lenders": {"admin", "analyst"},
    "/console/lenders/acme": {"admin", "analyst"},
    "/console/lenders/new": {"admin"},
    "/console/inquiries": {"admin", "auditor"},
    "/console/inquiries.csv": {"admin", "auditor"},
    "/console/borrowers": {"admin", "analyst"},
    f"/console/borrowers/{TOKEN}": {"admin", "analyst"},
    "/console/policy": {"admin", "analyst"},
    "/console/audit": {"admin", "auditor"},
    "/console/operators": {"admin"},
    "/console/account": {"admin", "analyst", "auditor"},
    "/console/": {"admin", "analyst"},
}
ROLES = ("admin", "analyst", "auditor")


@pytest.mark.parametrize("role", ROLES)
def test_every_page_renders_for_allowed_roles_and_is_refused_for_others(
    role, console_as, new_lender
):
    new_lender("acme")
    client = console_as(role)
    for path, allowed in PAGES.items():
        response = client.get(path)
        if role in allowed:
            assert response.status_code == 200, (role, path)
        elif path == "/console/" and role == "auditor":
            assert response.status_code == 302  # the auditor's home is the audit log
            assert response.headers["Location"] == "/console/audit"
        else:
            assert response.status_code == 403, (role, path)
            assert "text/html" in response.content_type
            assert "Not allowed" in response.get_data(as_text=True)
        response.close()
        if path.endswith(".csv"):
            continue
        assert "Content-Security-Policy" in response.headers


@pytest.mark.parametrize(
    ("role", "path", "data"),
    [
        ("analyst", "/console/lenders/new", {"code": "x1", "name": "X"}),
        ("analyst", "/console/lenders/acme/status", {"status": "suspended"}),
        ("analyst", "/console/lenders/acme/keys", {}),
        ("analyst", "/console/policy", {"threshold_MULTI_LENDER": "2"}),
        ("analyst", "/console/operators", {"username": "eve", "role": "admin"}),
        ("auditor", "/console/lenders/acme/keys", {}),
        ("auditor", "/console/policy", {"threshold_MULTI_LENDER": "2"}),
    ],
)
def test_actions_are_refused_for_roles_without_them(role, path, data, console_as, new_lender):
    new_lender("acme")
    client = console_as(role)
    assert post(client, path, data).status_code == 403


def test_navigation_shows_only_the_pages_of_the_role(console_as):
    html = console_as("auditor").get("/console/audit").get_data(as_text=True)
    nav = html.split('<nav class="mainnav"', 1)[1].split("</nav>", 1)[0]
    assert "/console/audit" in nav and "/console/inquiries" in nav
    assert "/console/lenders" not in nav and "/console/operators" not in nav


def test_unknown_console_page_is_an_html_404_and_the_api_keeps_problem_json(console_as, client):
    response = console_as("admin").get("/console/no-such-page")
    assert response.status_code == 404 and "text/html" in response.content_type
    api = client.get("/v1/no-such-thing")
    assert api.status_code == 404 and api.content_type == "application/problem+json"
    assert client.get("/console/lenders/nope").status_code == 302  # login first
    assert console_as("analyst").get("/console/lenders/nope").status_code == 404


def _seed(client, new_lender):
    """Borrower 1 owes three lenders, borrower 2 two, borrower 3 one; one inquiry."""
    a, b, c = new_lender("alpha"), new_lender("beta"), new_lender("gamma")
    for lender, borrowers in ((a, (1, 2, 3)), (b, (1, 2)), (c, (1,))):
        body = {"loans": [loan(f"{lender.code}-{n}", n) for n in borrowers]}
        assert client.post("/v1/loans", json=body, headers=lender.headers).status_code == 200
    bad = {"loans": [loan("bad-1", 4, due_on="2026-01-01")]}
    assert client.post("/v1/loans", json=bad, headers=c.headers).status_code == 200
    response = client.post(
        "/v1/inquiries",
        json={"borrower": token(1), "purpose": "new_credit", "consent_ref": "=cmd|x"},
        headers=a.headers,
    )
    assert response.status_code == 200
    return a, b, c


def test_dashboard_figures_and_charts(client, console_as, new_lender):
    _seed(client, new_lender)
    html = console_as("analyst").get("/console/").get_data(as_text=True)
    chart = re.search(r'<svg id="chart-lender-distribution".*?</svg>', html, re.S)
    assert chart, "distribution chart missing"
    bars = re.findall(r'<rect class="bar"[^>]*data-label="([^"]+)" data-value="(\d+)"', chart[0])
    assert bars == [("1", "1"), ("2", "1"), ("3", "1"), ("4", "0"), ("5+", "0")]
    assert "<title" in chart[0]
    assert 'id="chart-daily-activity"' in html and 'id="chart-flags"' in html
    assert "48,000.00 CNY" in html  # six open loans of 8,000.00 outstanding each
    flags = re.search(r'<svg id="chart-flags".*?</svg>', html, re.S)
    assert flags and "MULTI_LENDER 2026-11-25: 1" in flags[0]


def test_lender_list_and_page_show_statistics(client, console_as, new_lender):
    _seed(client, new_lender)
    analyst = console_as("analyst")
    listing = analyst.get("/console/lenders").get_data(as_text=True)
    assert "alpha" in listing and "2026-11-25T12:00:00Z" in listing
    page = analyst.get("/console/lenders/gamma").get_data(as_text=True)
    assert "due_on" in page and "must not be before opened_on" in page
    assert "score = 100 x" in page
    # gamma: 2 records, 1 rejected, reported today, its one open loan neither warned nor
    # stale, no approval: 100 x (0.5 x 0.5 + 0.1 x 1 + 0.1 x 1 + 0.1 x 1 + 0.1 x 1 + 0.1 x 1) = 75
    assert re.search(r'<span class="big">75</span>', page)
    assert "0 of 1 open loans with a consistency warning" in page
    assert "0 of 1 open loans stale" in page
    assert 'id="new-api-key"' not in page and 'id="suspend"' not in page  # analyst


def test_inquiries_filter_paginate_and_export(client, console_as, new_lender):
    _, b, _ = _seed(client, new_lender)
    for n in range(5, 8):
        client.post(
            "/v1/inquiries",
            json={"borrower": token(n), "purpose": "new_credit", "consent_ref": f"c{n}"},
            headers=b.headers,
        )
    auditor = console_as("auditor")
    html = auditor.get("/console/inquiries?lender=alpha").get_data(as_text=True)
    assert html.count("<tr>") == 2  # header + one row
    flagged = auditor.get("/console/inquiries?flag=MULTI_LENDER").get_data(as_text=True)
    assert flagged.count("<tr>") == 2
    none = auditor.get("/console/inquiries?flag=none&purpose=new_credit").get_data(as_text=True)
    assert none.count("<tr>") == 4
    empty = auditor.get("/console/inquiries?since=2026-11-26").get_data(as_text=True)
    assert "No inquiries match" in empty
    bad = auditor.get("/console/inquiries?since=yesterday&flag=BOGUS")
    assert bad.status_code == 422 and "YYYY-MM-DD" in bad.get_data(as_text=True)
    with auditor.get("/console/inquiries.csv?lender=alpha") as response:
        assert response.content_type.startswith("text/csv")
        rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0][:3] == ["created_at", "inquiry_id", "lender"]
    assert len(rows) == 2 and rows[1][2] == "alpha" and rows[1][4] == token(1)
    assert rows[1][5] == "'=cmd|x"  # no formula injection
    assert rows[1][8] == "MULTI_LENDER"


def test_inquiries_are_paginated(client, console_as, new_lender):
    lender = new_lender("alpha")
    for n in range(55):
        client.post(
            "/v1/inquiries",
            json={"borrower": token(n), "purpose": "new_credit", "consent_ref": f"c{n}"},
            headers=lender.headers,
        )
    admin = console_as("admin")
    first = admin.get("/console/inquiries").get_data(as_text=True)
    assert first.count("<tr>") == 51 and "Page 1 of 2" in first
    second = admin.get("/console/inquiries?page=2").get_data(as_text=True)
    assert second.count("<tr>") == 6


def look_up(client, raw_token: str, reason: str = "dispute 7"):
    """The look-up form's POST: token and reason."""
    return post(client, "/console/borrowers", {"token": raw_token, "reason": reason})


def test_borrower_lookup_shows_holders_and_inquiries_and_is_audited(
    client, console_as, new_lender, engine
):
    _seed(client, new_lender)
    analyst = console_as("analyst")
    response = look_up(analyst, token(1).upper(), "  complaint 17 ")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    for code in ("alpha", "beta", "gamma"):
        assert f">{code}</a>" in html
    assert "MULTI_LENDER" in html and "3 lenders have open loans" in html
    assert "=cmd|x" in html  # the inquiry list
    assert "complaint 17" in html
    (event,) = audit_events(engine, "lookup")
    assert event.actor == "operator:analyst1"
    assert event.target == token(1)
    assert event.details["reason"] == "complaint 17"
    bad = look_up(analyst, "xyz")
    assert bad.status_code == 422 and "64 hexadecimal characters" in bad.get_data(as_text=True)


@pytest.mark.parametrize("reason", ["", "   ", "x" * 201])
def test_no_lookup_without_a_stated_reason(client, console_as, new_lender, engine, reason):
    _seed(client, new_lender)
    analyst = console_as("analyst")
    response = look_up(analyst, token(1), reason)
    html = response.get_data(as_text=True)
    assert response.status_code == 422 and 'id="reason-error"' in html
    assert "alpha" not in html and "MULTI_LENDER" not in html
    assert audit_events(engine, "lookup") == []


def test_no_get_shows_or_audits_a_borrower(client, console_as, new_lender, engine):
    """A link (the inquiries page's) lands on the form with the token filled in; the record
    is read and audited only by the form's POST, with its CSRF token and a reason."""
    _seed(client, new_lender)
    analyst = console_as("analyst")
    for path in (
        f"/console/borrowers/{token(1)}",
        f"/console/borrowers?token={token(1)}",
        f"/console/borrowers/{token(1)}?reason=whatever",
    ):
        response = analyst.get(path)
        html = response.get_data(as_text=True)
        assert response.status_code == 200, path
        assert f'value="{token(1)}"' in html and 'name="reason"' in html
        assert "MULTI_LENDER" not in html and ">alpha</a>" not in html
    assert analyst.get("/console/borrowers/xyz").status_code == 404
    no_csrf = analyst.post("/console/borrowers", data={"token": token(1), "reason": "r"})
    assert no_csrf.status_code == 400
    assert look_up(console_as("auditor"), token(1)).status_code == 403
    assert audit_events(engine, "lookup") == []


def test_inquiries_page_links_each_borrower_to_the_lookup(client, console_as, new_lender):
    _seed(client, new_lender)
    admin_html = console_as("admin").get("/console/inquiries").get_data(as_text=True)
    assert f'href="/console/borrowers/{token(1)}"' in admin_html
    assert 'class="num nowrap"' in admin_html and '<td class="nowrap">=cmd|x</td>' in admin_html
    # An auditor reads the inquiries but may not look a borrower up: no dead link.
    auditor_html = console_as("auditor").get("/console/inquiries").get_data(as_text=True)
    assert f'href="/console/borrowers/{token(1)}"' not in auditor_html
    assert f'title="{token(1)}"' in auditor_html


WINDOWS = ("1h", "24h", "1d", "7d", "30d", "90d")  # the report's other_lenders_inquiring


def test_lookup_counts_inquiring_lenders_as_the_report_does(client, console_as, new_lender):
    """Same definition and words as the report: distinct lenders (not inquiries) that asked
    for new credit; the report leaves out the lender that asks, the operator is none."""
    a, b, _ = _seed(client, new_lender)  # alpha asked once about borrower 1
    again = {"borrower": token(1), "purpose": "new_credit", "consent_ref": "second"}
    assert client.post("/v1/inquiries", json=again, headers=a.headers).status_code == 200
    report = client.post(
        "/v1/inquiries",
        json={"borrower": token(1), "purpose": "account_review"},
        headers=a.headers,
    ).get_json()
    assert report["summary"]["other_lenders_inquiring"] == dict.fromkeys(WINDOWS, 0)
    report = client.post(
        "/v1/inquiries",
        json={"borrower": token(1), "purpose": "account_review"},
        headers=b.headers,
    ).get_json()
    assert report["summary"]["other_lenders_inquiring"] == dict.fromkeys(WINDOWS, 1)
    html = look_up(console_as("analyst"), token(1)).get_data(as_text=True)
    row = re.search(r'<tr id="other-lenders-inquiring">(.*?)</tr>', html, re.S)
    assert row, "no inquiring-lenders row"
    assert "Other lenders inquiring (1h/24h/7d/30d/90d)" in row[1]
    assert "<td>1/1/1/1/1</td>" in row[1]  # one lender, two inquiries
    assert "Lenders, not inquiries" in html and "every lender that asked is counted" in html


def test_lookup_records_no_inquiry(client, console_as, new_lender):
    a, _, _ = _seed(client, new_lender)
    assert look_up(console_as("admin"), token(1)).status_code == 200
    report = client.post(
        "/v1/inquiries",
        json={"borrower": token(1), "purpose": "account_review"},
        headers=a.headers,
    ).get_json()
    assert report["summary"]["other_lenders_inquiring"]["7d"] == 0


def test_audit_log_lists_and_filters_events(console_as, engine):
    admin = console_as("admin")
    look_up(admin, TOKEN)
    auditor = console_as("auditor")
    html = auditor.get("/console/audit").get_data(as_text=True)
    assert "login" in html and "lookup" in html
    only = auditor.get("/console/audit?action=lookup").get_data(as_text=True)
    assert only.count('<span class="badge badge-action">') == 1
    by_actor = auditor.get("/console/audit?actor=operator:auditor1").get_data(as_text=True)
    assert "lookup</span>" not in by_actor
    bad = auditor.get("/console/audit?since=nope")
    assert bad.status_code == 422


def test_audit_page_offers_no_way_to_change_events(console_as):
    html = console_as("admin").get("/console/audit").get_data(as_text=True)
    assert 'method="post"' not in html.split("<main>", 1)[1]
    client = console_as("auditor")
    assert post(client, "/console/audit").status_code == 405


def test_dashboard_totals_come_from_a_cache_refreshed_when_old(
    app, client, console_as, new_lender, clock
):
    """Whole-book figures are served from memory, computed at most once per max_age; a
    later view gets them at once and fresh ones replace them (here without a thread)."""
    totals = app.extensions["registry"].dashboard_totals
    totals.max_age, totals.background = timedelta(seconds=60), False
    analyst = console_as("analyst")
    assert "No open loans yet." in analyst.get("/console/").get_data(as_text=True)
    _seed(client, new_lender)
    cached = analyst.get("/console/").get_data(as_text=True)
    assert "No open loans yet." in cached and "as of 2026-11-25T12:00:00Z" in cached
    clock.advance(timedelta(seconds=61))
    fresh = analyst.get("/console/").get_data(as_text=True)
    assert "48,000.00 CNY" in fresh and "as of 2026-11-25T12:01:01Z" in fresh


def test_background_refresh_serves_the_old_totals_meanwhile(app, new_lender, clock, client):
    from registry.totals_cache import TotalsCache

    state = app.extensions["registry"]
    cache = TotalsCache(state.sessions, clock.now, timedelta(seconds=60), background=True)
    first = cache.get()
    _seed(client, new_lender)
    clock.advance(timedelta(seconds=61))
    assert cache.get() is first  # stale, answered at once; a refresh has started
    for _ in range(200):
        if cache.get() is not first:
            break
        time.sleep(0.01)
    assert cache.get().loans_open == 6


def test_csv_export_returns_its_database_connection(app, client, console_as, new_lender):
    _seed(client, new_lender)
    auditor = console_as("auditor")
    pool = app.extensions["registry"].engine.pool
    with auditor.get("/console/inquiries.csv") as response:
        assert len(response.get_data(as_text=True).splitlines()) == 2
    assert pool.checkedout() == 0


def test_gunicorn_workers_compute_the_totals_as_they_start(app):
    from types import SimpleNamespace

    from registry import gunicorn_config

    totals = app.extensions["registry"].dashboard_totals
    gunicorn_config.post_worker_init(SimpleNamespace(wsgi=app))
    for _ in range(200):
        if totals.held is not None:
            break
        time.sleep(0.01)
    assert totals.held is not None and totals.held.loans_open == 0


# The look-up by ID (made in the browser) is tested in test_lookup_by_id.py and
# test_lookup_browser.py.


@pytest.mark.committed
def test_the_database_refuses_to_change_or_delete_audit_events(engine, console_as):
    """Triggers keep the audit log append-only whoever connects, on both backends."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    console_as("admin")  # signing in writes a "login" event
    for statement in ("UPDATE audit_events SET action = 'x'", "DELETE FROM audit_events"):
        with engine.connect() as connection, pytest.raises(DBAPIError, match="append-only"):
            connection.execute(text(statement))
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM audit_events")).scalar_one() >= 1


def test_page_roles_are_declared_once_in_the_route_decorator(app):
    """Every console view but login/logout/static declares its roles with `auth.roles`; no
    view body and no template checks a role by itself (issue 8)."""
    from pathlib import Path

    from registry.console import auth

    root = Path(auth.__file__).parent
    open_to_all = {"console.login", "console.logout", "console.static"}
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("console.") or rule.endpoint in open_to_all:
            continue
        view = app.view_functions[rule.endpoint]
        assert getattr(view, auth.ROLES_ATTRIBUTE, None), f"{rule.endpoint} declares no roles"
    for source in (root / "pages.py", root / "manage.py"):
        text = source.read_text()
        assert "current_operator().role" not in text, source.name
        assert ".role ==" not in text and ".role !=" not in text, source.name
    for template in (root / "templates").rglob("*.html"):
        assert "operator.role ==" not in template.read_text(), template.name


def test_templates_follow_the_declared_roles(client, console_as, new_lender):
    new_lender("acme")
    admin, analyst = console_as("admin"), console_as("analyst")
    assert "Onboard a lender" in admin.get("/console/lenders").get_data(as_text=True)
    assert "Onboard a lender" not in analyst.get("/console/lenders").get_data(as_text=True)
    assert 'id="issue-key"' in admin.get("/console/lenders/acme").get_data(as_text=True)
    assert 'id="issue-key"' not in analyst.get("/console/lenders/acme").get_data(as_text=True)
    assert 'id="save-policy"' in admin.get("/console/policy").get_data(as_text=True)
    assert 'id="save-policy"' not in analyst.get("/console/policy").get_data(as_text=True)
    refused = post(analyst, "/console/policy", {"threshold_MULTI_LENDER": "4"})
    assert refused.status_code == 403  # the decorator's post=(ADMIN,)


def test_lenders_list_links_code_and_name(console_as, new_lender):
    new_lender("acme", "Acme Credit")
    html = console_as("analyst").get("/console/lenders").get_data(as_text=True)
    assert '<a href="/console/lenders/acme">acme</a>' in html
    assert '<a href="/console/lenders/acme">Acme Credit</a>' in html


def test_landing_page_points_to_console_openapi_and_walkthrough(client):
    response = client.get("/")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert 'href="/console/"' in html and 'href="/openapi.json"' in html
    assert "README.md" in html and "Walk-through: onboard a lender" in html
    assert "Content-Security-Policy" in response.headers
    assert "<script" not in html and "style=" not in html
    # The API's paths keep answering problem documents.
    assert client.get("/nope").mimetype == "application/problem+json"


@pytest.mark.parametrize(
    ("largest", "top", "step"),
    [(0, 1, 1), (3, 3, 1), (7, 8, 2), (50, 50, 10), (260, 300, 50), (499, 500, 100)],
)
def test_chart_axes_use_round_steps_just_above_the_largest_value(largest, top, step):
    from registry.console import charts

    assert charts.scale(largest) == (top, step)
    svg = charts.bar_chart("c", "t", ["a", "b"], [largest, largest // 2])
    ticks = [int(v) for v in re.findall(r'class="axis tick"[^>]*data-value="(\d+)"', svg)]
    assert ticks == list(range(0, top + 1, step))
    assert all(tick % step == 0 for tick in ticks) and top - step < max(largest, 1) <= top
