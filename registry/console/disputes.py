"""Disputes, statements and disclosures in the console: the disputes page (open, overdue,
answered; by lender), one dispute, and the borrower page's controls: open a dispute of a
tradeline, attach or remove the borrower's statement, produce their disclosure report.

Every change is a POST with the CSRF token (`auth`), so that no link can make an operator's
browser open a dispute, change a statement or produce an audited disclosure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from registry.console.auth import ADMIN, ANALYST, AUDITOR, actor, current_operator, roles
from registry.console.blueprint import bp
from registry.console.disclosure_document import LEGAL_BASIS
from registry.console.pages import field_errors, page_number, pager_args
from registry.db import transaction
from registry.extensions import db, now
from registry.services import dashboard, dispute_log, disputes, statements
from registry.services.disclosure import disclose
from registry.services.dispute_log import DisputeRow
from registry.services.errors import Conflict, InvalidInput, NotFound
from registry.services.lookup import parse_token
from registry.services.statements import MAX_STATEMENT


@dataclass(frozen=True)
class BorrowerObligations:
    """What the borrower page shows under the report: disputes and the statement."""

    disputes: list[DisputeRow] = field(default_factory=list)
    statement: str | None = None
    statement_set_at: datetime | None = None
    max_statement: int = MAX_STATEMENT


def borrower_obligations(token: str) -> BorrowerObligations:
    """The borrower page's disputes and statement (a read of its own, after the look-up's
    audited unit of work)."""
    borrower = parse_token(token)
    with transaction(db(), write=False):
        found = dispute_log.for_borrower(db(), borrower, now())
        statement = statements.get_statement(db(), borrower)
    return BorrowerObligations(
        found,
        statement.text if statement is not None else None,
        statement.created_at if statement is not None else None,
    )


bp.add_app_template_global(borrower_obligations, "borrower_obligations")


def _refuse(exc: InvalidInput) -> ResponseReturnValue:
    abort(422, "; ".join(f"{e.field}: {e.message}" for e in exc.errors) or str(exc))


@bp.get("/disputes")
@roles(ADMIN, ANALYST, AUDITOR)
def disputes_page() -> ResponseReturnValue:
    errors: dict[str, str] = {}
    try:
        filters = dispute_log.DisputeFilter.parse(request.args.to_dict())
    except InvalidInput as exc:
        errors, filters = field_errors(exc.errors), dispute_log.DisputeFilter()
    with transaction(db(), write=False):
        result = dispute_log.search(db(), filters, now(), page_number())
        lenders = dashboard.lender_choices(db())
    return render_template(
        "console/disputes.html",
        result=result,
        filters=filters,
        args=pager_args("lender", "status"),
        errors=errors,
        lenders=lenders,
        statuses=disputes.LIST_STATUSES,
    ), (422 if errors else 200)


@bp.get("/disputes/<dispute_id>")
@roles(ADMIN, ANALYST, AUDITOR)
def dispute_detail(dispute_id: str) -> ResponseReturnValue:
    try:
        with transaction(db(), write=False):
            row = dispute_log.get(db(), dispute_id, now())
    except NotFound as exc:
        abort(404, str(exc))
    return render_template("console/dispute.html", d=row)


@bp.post("/disputes")
@roles(ADMIN, ANALYST)
def dispute_open() -> ResponseReturnValue:
    """From the borrower page: a dispute of one tradeline (`lender:label:loan_ref`)."""
    form = request.form
    code, label, loan_ref = [*form.get("tradeline", "").split(":", 2), "", "", ""][:3]
    try:
        borrower = parse_token(form.get("token", ""))
        with transaction(db()):
            opened = disputes.open_by_operator(
                db(),
                borrower,
                code,
                loan_ref,
                form.get("reason", ""),
                label,
                now(),
                actor(),
                current_operator().id,
            )
            dispute_id = opened.dispute.id
    except InvalidInput as exc:
        return _refuse(exc)
    except Conflict as exc:
        abort(409, str(exc))
    if opened.created:
        flash(f"Dispute opened; {code} answers it by {opened.dispute.due_at.date()}.", "success")
    else:
        flash("This record is already under your desk's open dispute, shown here.", "warning")
    return redirect(url_for("console.dispute_detail", dispute_id=dispute_id), code=303)


@bp.post("/borrowers/statement")
@roles(ADMIN, ANALYST)
def borrower_statement() -> ResponseReturnValue:
    """Attach (or replace) the borrower's statement, or remove it (`action=remove`)."""
    form = request.form
    try:
        borrower = parse_token(form.get("token", ""))
        with transaction(db()):
            if form.get("action") == "remove":
                statements.remove_statement(db(), borrower, now(), actor())
                flash("Statement removed: reports no longer show it.", "success")
            else:
                statements.set_statement(
                    db(), borrower, form.get("statement", ""), now(), actor(), current_operator().id
                )
                flash("Statement saved: every report shows it until it is removed.", "success")
    except InvalidInput as exc:
        return _refuse(exc)
    except NotFound as exc:
        abort(404, str(exc))
    return redirect(url_for("console.borrower", token=borrower.hex()), code=303)


@bp.post("/borrowers/disclosure")
@roles(ADMIN, ANALYST)
def borrower_disclosure() -> ResponseReturnValue:
    """The borrower's disclosure report, for a person who proved at the desk who they are:
    the operator confirms it (and may note how), then the audited report is shown, ready to
    print."""
    form = request.form
    if form.get("identity_checked") != "yes":
        abort(422, "Confirm that the person proved who they are before producing the report.")
    try:
        borrower = parse_token(form.get("token", ""))
        with transaction(db()):
            disclosure = disclose(db(), borrower, now(), actor(), form.get("reference"))
    except InvalidInput as exc:
        return _refuse(exc)
    return render_template("console/disclosure.html", d=disclosure, legal_basis=LEGAL_BASIS)
