"""Read pages: dashboard, inquiries (and CSV), borrower look-up, audit log.

Each route parses its input, checks the role, calls a service and renders a template.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from flask import (
    Response,
    abort,
    redirect,
    render_template,
    request,
    url_for,
)
from flask.typing import ResponseReturnValue

from registry_protocol.ids import ID_KINDS
from registry.console import charts
from registry.console.auth import ADMIN, ANALYST, AUDITOR, actor, current_operator, roles
from registry.console.blueprint import bp
from registry.extensions import db, now, signer, state
from registry.services import audit, dashboard, inquiry_log, lookup, tokens
from registry.services.errors import FieldError, InvalidInput


def page_number() -> int:
    raw = request.args.get("page", "1")
    return int(raw) if raw.isdigit() and 0 < int(raw) < 1_000_000 else 1


def field_errors(errors: list[FieldError]) -> dict[str, str]:
    return {e.field: e.message for e in errors}


@bp.get("/", endpoint="dashboard")
@roles(ADMIN, ANALYST, AUDITOR)
def dashboard_page() -> ResponseReturnValue:
    if current_operator().role == AUDITOR:
        return redirect(url_for("console.audit_log"))
    totals = state().dashboard_totals
    figures = dashboard.overview(db(), now(), totals.get())
    distribution = charts.bar_chart(
        "chart-lender-distribution",
        "Borrowers by number of lenders with open loans",
        list(figures.lender_distribution),
        list(figures.lender_distribution.values()),
    )
    activity = charts.line_chart(
        "chart-daily-activity",
        "Submissions and inquiries per day, last 30 days",
        figures.days,
        {"Submissions": figures.submissions_per_day, "Inquiries": figures.inquiries_per_day},
    )
    flags = charts.stacked_chart(
        "chart-flags",
        "Flags raised per day by code",
        figures.days,
        figures.flags_per_day,
        width=2 * charts.WIDTH,  # it spans both columns
    )
    return render_template(
        "console/dashboard.html",
        figures=figures,
        distribution=distribution,
        activity=activity,
        flags=flags,
        refresh_seconds=int(totals.max_age.total_seconds()),
    )


@bp.get("/inquiries")
@roles(ADMIN, AUDITOR)
def inquiries() -> ResponseReturnValue:
    errors: dict[str, str] = {}
    try:
        filters = inquiry_log.InquiryFilter.parse(request.args.to_dict())
    except InvalidInput as exc:
        errors, filters = field_errors(exc.errors), inquiry_log.InquiryFilter()
    result = inquiry_log.search(db(), filters, page_number())
    return render_template(
        "console/inquiries.html",
        result=result,
        filters=filters,
        args=request.args,
        errors=errors,
        lenders=dashboard.lender_choices(db()),
        purposes=inquiry_log.PURPOSES,
        flag_filters=inquiry_log.FLAG_FILTERS,
    ), (422 if errors else 200)


@bp.get("/inquiries.csv")
@roles(ADMIN, AUDITOR)
def inquiries_csv() -> ResponseReturnValue:
    try:
        filters = inquiry_log.InquiryFilter.parse(request.args.to_dict())
    except InvalidInput as exc:
        abort(422, "; ".join(f"{e.field}: {e.message}" for e in exc.errors))
    session = db()
    audit.record(session, actor(), "inquiries_exported", now(), None, filters.query_args())
    session.commit()
    stamp = now().strftime("%Y%m%dT%H%M%SZ")

    # The stream outlives the request (and its session, closed at teardown): it reads
    # through a session of its own, closed with the last row or when the client goes.
    sessions = state().sessions

    def rows() -> Iterator[str]:
        with sessions() as export:
            yield from inquiry_log.export_csv(export, filters)

    return Response(
        rows(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="inquiries-{stamp}.csv"'},
    )


@bp.get("/borrowers")
@roles(ADMIN, ANALYST)
def borrowers() -> ResponseReturnValue:
    raw = request.args.get("token")
    if raw is None:
        return render_template("console/borrowers.html", errors={}, token="", id_kind="")
    try:
        lookup.parse_token(raw)
    except InvalidInput as exc:
        return render_template(
            "console/borrowers.html", errors=field_errors(exc.errors), token=raw
        ), 422
    return redirect(url_for("console.borrower", token=raw.strip().lower()))


@bp.post("/borrowers/by-id")
@roles(ADMIN, ANALYST)
def borrower_by_id() -> ResponseReturnValue:
    """An ID turned into its token, as lenders make it, with the pepper the operator types
    in now (never stored); audited with the ID's kind and the token, never the ID."""
    form = request.form
    kind = form.get("id_kind", "")
    try:
        if kind not in ID_KINDS:
            raise InvalidInput("unknown kind", [FieldError("id_kind", "choose a kind of ID")])
        token = tokens.lookup_id(
            db(),
            signer(),
            kind,
            form.get("id_value", ""),
            tokens.parse_pepper(form.get("pepper", "")),
            now(),
            actor(),
            form.get("reason", ""),
        )
    except InvalidInput as exc:
        return render_template(
            "console/borrowers.html",
            errors=field_errors(exc.errors),
            token="",
            id_kind=kind,
            reason=form.get("reason", ""),
        ), 422
    except tokens.TokensUnavailable as exc:
        return render_template(
            "console/borrowers.html", errors={"id_value": str(exc)}, token="", id_kind=kind
        ), 503
    return redirect(url_for("console.borrower", token=token))


@bp.get("/borrowers/<token>")
@roles(ADMIN, ANALYST)
def borrower(token: str) -> ResponseReturnValue:
    try:
        result = lookup.look_up(db(), token, now(), actor())
    except InvalidInput as exc:
        return render_template(
            "console/borrowers.html", errors=field_errors(exc.errors), token=token
        ), 404
    return render_template("console/borrower.html", result=result)


def _parse_day(raw: str | None, name: str, errors: dict[str, str]) -> date | None:
    if not raw:
        return None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        errors[name] = "a date, YYYY-MM-DD"
        return None
    if not inquiry_log.FIRST_DAY <= day <= inquiry_log.LAST_DAY:
        errors[name] = f"a date from {inquiry_log.FIRST_DAY} to {inquiry_log.LAST_DAY}"
        return None
    return day


@bp.get("/audit")
@roles(ADMIN, AUDITOR)
def audit_log() -> ResponseReturnValue:
    errors: dict[str, str] = {}
    args = request.args
    filters = audit.AuditFilter(
        actor=(args.get("actor") or "").strip() or None,
        action=(args.get("action") or "").strip() or None,
        target=(args.get("target") or "").strip() or None,
        since=_parse_day(args.get("since"), "since", errors),
        until=_parse_day(args.get("until"), "until", errors),
    )
    result = audit.search(db(), filters, page_number())
    return render_template(
        "console/audit.html",
        result=result,
        filters=filters,
        args=args,
        errors=errors,
        actions=audit.known_actions(db()),
    ), (422 if errors else 200)
