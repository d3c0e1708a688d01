"""The console's policy form, sent with the values the rules already have, changes nothing
(issue 13, item 7): no audit event, "last changed" stays, and a flash says so."""

from __future__ import annotations

import re
from datetime import timedelta

from registry.models import PolicyRule
from tests.console.helpers import audit_events, post


def _rule(db_session, code):
    try:
        row = db_session.get(PolicyRule, code)
        return (row.threshold, row.enabled, row.updated_at) if row else None
    finally:
        db_session.rollback()


def test_console_policy_form_with_the_current_values_is_a_no_op(
    console_as, engine, db_session, clock
):
    admin = console_as("admin")
    page = admin.get("/console/policy").get_data(as_text=True)
    form = {
        f"threshold_{code}": value
        for code, value in re.findall(r'name="threshold_(\w+)" value="(\d+)"', page)
    }
    form.update({f"enabled_{code[10:]}": "on" for code in form})
    form["threshold_MULTI_LENDER"] = "5"
    assert post(admin, "/console/policy", form).status_code == 302
    changed_at = _rule(db_session, "MULTI_LENDER")
    assert len(audit_events(engine, "policy_changed")) == 1

    clock.advance(timedelta(minutes=1))  # well within the session's idle limit
    response = post(admin, "/console/policy", form, follow_redirects=True)
    assert response.status_code == 200
    assert "Nothing changed" in response.get_data(as_text=True)
    assert _rule(db_session, "MULTI_LENDER") == changed_at
    assert len(audit_events(engine, "policy_changed")) == 1
