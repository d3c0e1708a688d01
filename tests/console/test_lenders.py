"""Console actions: onboarding, keys, suspension, policy, operators; each one audited."""

from __future__ import annotations

import re

from tests.console.helpers import audit_actions, audit_events, post, sign_in
from tests.helpers import bearer, loan, token

KEY = re.compile(r'<code id="new-api-key">([^<]+)</code>')


def _onboard(admin, code="acme", name="Acme Credit"):
    response = post(admin, "/console/lenders/new", {"code": code, "name": name})
    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.headers["Location"] == f"/console/lenders/{code}"
    page = admin.get(response.headers["Location"]).get_data(as_text=True)
    match = KEY.search(page)
    assert match, "the new key is not shown"
    assert 'id="copy-key"' in page and 'class="flash' in page
    return match.group(1)


def test_onboard_shows_the_key_once_and_it_works_on_the_api(console_as, client, engine):
    admin = console_as("admin")
    key = _onboard(admin)
    assert key.startswith("rk_")
    again = admin.get("/console/lenders/acme").get_data(as_text=True)
    assert 'id="new-api-key"' not in again and key not in again
    with admin.session_transaction() as cookie:
        assert key not in str(dict(cookie))
    response = client.post("/v1/loans", json={"loans": [loan()]}, headers=bearer(key))
    assert response.status_code == 200 and response.get_json()["accepted"] == 1
    actions = [(actor, action, target) for actor, action, target in audit_actions(engine)]
    assert ("operator:admin1", "lender_created", "acme") in actions
    assert ("operator:admin1", "key_issued", "acme") in actions


def test_onboarding_form_shows_errors_next_to_fields(console_as, new_lender):
    admin = console_as("admin")
    response = post(admin, "/console/lenders/new", {"code": "X!", "name": ""})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="code-error"' in html and 'id="name-error"' not in html  # first error found
    new_lender("taken")
    response = post(admin, "/console/lenders/new", {"code": "taken", "name": "T"})
    assert response.status_code == 409 and "already exists" in response.get_data(as_text=True)


def test_suspend_then_reactivate(console_as, client, engine):
    admin = console_as("admin")
    key = _onboard(admin)
    page = admin.get("/console/lenders/acme").get_data(as_text=True)
    assert 'id="suspend"' in page and 'id="issue-key"' in page
    response = post(admin, "/console/lenders/acme/status", {"status": "suspended"})
    assert response.status_code == 302
    assert (
        client.post("/v1/loans", json={"loans": [loan()]}, headers=bearer(key)).status_code == 403
    )
    page = admin.get("/console/lenders/acme").get_data(as_text=True)
    assert 'id="reactivate"' in page and "suspended" in page
    post(admin, "/console/lenders/acme/status", {"status": "active"})
    assert (
        client.post("/v1/loans", json={"loans": [loan()]}, headers=bearer(key)).status_code == 200
    )
    (suspended,) = audit_events(engine, "lender_suspended")
    assert suspended.details == {"old": "active", "new": "suspended"}
    assert len(audit_events(engine, "lender_reactivated")) == 1
    assert post(admin, "/console/lenders/acme/status", {"status": "gone"}).status_code == 400


def test_issue_and_revoke_keys(console_as, client, engine):
    admin = console_as("admin")
    first = _onboard(admin)
    response = post(admin, "/console/lenders/acme/keys", {"label": "rotation"})
    page = admin.get(response.headers["Location"]).get_data(as_text=True)
    second = KEY.search(page).group(1)  # type: ignore[union-attr]
    assert second != first
    assert client.get("/v1/loans", headers=bearer(second)).status_code == 200
    prefix = first.split("_")[1]
    assert f'data-prefix="{prefix}"' in page
    response = post(admin, f"/console/lenders/acme/keys/{prefix}/revoke")
    assert response.status_code == 302
    assert client.get("/v1/loans", headers=bearer(first)).status_code == 401
    assert client.get("/v1/loans", headers=bearer(second)).status_code == 200
    again = post(admin, f"/console/lenders/acme/keys/{prefix}/revoke")
    assert "already revoked" in admin.get(again.headers["Location"]).get_data(as_text=True)
    assert post(admin, "/console/lenders/acme/keys/nope/revoke").status_code == 404
    (revoked,) = audit_events(engine, "key_revoked")
    assert revoked.details == {"prefix": prefix} and revoked.actor == "operator:admin1"
    issued = audit_events(engine, "key_issued")
    assert [e.details["label"] for e in issued] == ["initial", "rotation"]


def test_policy_change_applies_to_the_next_inquiry_and_is_audited(
    console_as, client, new_lender, engine
):
    a, b = new_lender("alpha"), new_lender("beta")
    for lender in (a, b):
        client.post(
            "/v1/loans", json={"loans": [loan(f"{lender.code}-1", 1)]}, headers=lender.headers
        )
    body = {"borrower": token(1), "purpose": "new_credit", "consent_ref": "c1"}

    def flags():
        return [
            f["code"]
            for f in client.post("/v1/inquiries", json=body, headers=a.headers).get_json()["flags"]
        ]

    assert "MULTI_LENDER" not in flags()
    admin = console_as("admin")
    page = admin.get("/console/policy").get_data(as_text=True)
    form = {
        f"threshold_{code}": value
        for code, value in re.findall(r'name="threshold_(\w+)" value="(\d+)"', page)
    }
    form.update({f"enabled_{code[10:]}": "on" for code in form})
    form["threshold_MULTI_LENDER"] = "2"
    response = post(admin, "/console/policy", form)
    assert response.status_code == 302
    assert "MULTI_LENDER" in flags()
    (event,) = audit_events(engine, "policy_changed")
    assert event.target == "MULTI_LENDER"
    assert event.details == {
        "old": {"threshold": 3, "enabled": True},
        "new": {"threshold": 2, "enabled": True},
    }
    # Disabling the rule (checkbox off) stops the flag.
    form.pop("enabled_MULTI_LENDER")
    post(admin, "/console/policy", form)
    assert "MULTI_LENDER" not in flags()


def test_policy_validation_shows_errors_and_changes_nothing(console_as, engine):
    admin = console_as("admin")
    response = post(
        admin,
        "/console/policy",
        {"threshold_MULTI_LENDER": "0", "threshold_WRITTEN_OFF": "abc"},
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="MULTI_LENDER-error"' in html and 'id="WRITTEN_OFF-error"' in html
    assert audit_events(engine, "policy_changed") == []


def test_admin_adds_and_disables_operators(console_as, app, engine):
    admin = console_as("admin")
    response = post(
        admin,
        "/console/operators",
        {"username": "carol", "role": "auditor", "password": "short", "password_again": "short"},
    )
    assert response.status_code == 422 and 'id="password-error"' in response.get_data(as_text=True)
    response = post(
        admin,
        "/console/operators",
        {
            "username": "carol",
            "role": "auditor",
            "password": "a long enough password",
            "password_again": "a long enough password",
        },
    )
    assert response.status_code == 302
    carol = app.test_client()
    assert sign_in(carol, "carol", "a long enough password").status_code == 302
    assert carol.get("/console/audit").status_code == 200
    post(admin, "/console/operators/carol/status", {"status": "disabled"})
    assert carol.get("/console/audit").status_code == 302
    actions = [action for _, action, _ in audit_actions(engine)]
    assert "operator_created" in actions and "operator_disabled" in actions


def test_a_copied_cookie_does_not_show_the_key_again(console_as):
    """The key waits on the server, not in the cookie: replaying the cookie as it was before
    the key was shown shows nothing."""
    admin = console_as("admin")
    response = post(admin, "/console/lenders/new", {"code": "acme", "name": "Acme Credit"})
    assert response.status_code == 302
    with admin.session_transaction() as cookie:
        before = dict(cookie)
    first = admin.get("/console/lenders/acme").get_data(as_text=True)
    assert 'id="new-api-key"' in first
    with admin.session_transaction() as cookie:
        cookie.clear()
        cookie.update(before)
    replayed = admin.get("/console/lenders/acme").get_data(as_text=True)
    assert 'id="new-api-key"' not in replayed
