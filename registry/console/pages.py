"""Read pages: dashboard, inquiries (and CSV), one loan's record, audit log (the borrower
look-up is in `registry.console.lookup`).

Each route declares its roles (`auth.roles`), parses its input, calls a service inside its
unit of work (`registry.db.transaction`) and renders a template.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from flask import (
    Response,
    abort,
    render_template,
    request,
)
from flask.typing import ResponseReturnValue

from registry.console import charts
from registry.console.auth import ADMIN, ANALYST, AUDITOR, actor, roles
from registry.console.blueprint import bp
from registry.db import transaction
from registry.extensions import db, now, state
from registry.services import audit, dashboard, inquiry_log, loan_view
from registry.services.errors import FieldError, InvalidInput, NotFound


def page_number() -> int:
    raw = request.args.get("page", "1")
    return int(raw) if raw.isdigit() and 0 < int(raw) < 1_000_000 else 1


def pager_args(*names: str) -> dict[str, str]:
    """The filters a pager link carries over: only the page's own, by name, so that no other
    query parameter (``_external``, ``_anchor``, ``endpoint``) reaches `url_for`."""
    return {name: request.args[name] for name in names if request.args.get(name)}


def field_errors(errors: list[FieldError]) -> dict[str, str]:
    return {e.field: e.message for e in errors}


# The applications chart's series: their words and colours (approved teal, declined red).
OUTCOME_LABELS = {
    "approved": "Approved",
    "declined": "Declined",
    "withdrawn": "Withdrawn",
    dashboard.NO_OUTCOME: "No outcome yet",
}
OUTCOME_CLASSES = {
    "approved": "series-2",
    "declined": "series-3",
    "withdrawn": "series-1",
    dashboard.NO_OUTCOME: "series-5",
}


@bp.get("/", endpoint="dashboard")
@roles(ADMIN, ANALYST, others_to="console.audit_log")
def dashboard_page() -> ResponseReturnValue:
    totals = state().dashboard_totals
    with transaction(db(), write=False):
        figures = dashboard.overview(db(), now(), totals.get())
        spikes = dashboard.review_spikes(db(), now())
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
    applications = charts.stacked_chart(
        "chart-applications",
        "Applications (new_credit inquiries) per day by outcome",
        figures.days,
        {
            OUTCOME_LABELS[name]: figures.applications_per_day[name]
            for name in dashboard.OUTCOME_SERIES
        },
        width=2 * charts.WIDTH,
        classes=[OUTCOME_CLASSES[name] for name in dashboard.OUTCOME_SERIES],
    )
    return render_template(
        "console/dashboard.html",
        figures=figures,
        distribution=distribution,
        activity=activity,
        flags=flags,
        applications=applications,
        outcome_labels=OUTCOME_LABELS,
        outcome_classes=OUTCOME_CLASSES,
        spikes=spikes,
        review_days=dashboard.REVIEW_WINDOW_DAYS,
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
    with transaction(db(), write=False):
        result = inquiry_log.search(db(), filters, page_number())
        lenders = dashboard.lender_choices(db())
    return render_template(
        "console/inquiries.html",
        result=result,
        filters=filters,
        args=pager_args("lender", "purpose", "since", "until", "flag", "outcome"),
        errors=errors,
        lenders=lenders,
        purposes=inquiry_log.PURPOSES,
        flag_filters=inquiry_log.FLAG_FILTERS,
        outcome_filters=inquiry_log.OUTCOME_FILTERS,
    ), (422 if errors else 200)


@bp.get("/inquiries.csv")
@roles(ADMIN, AUDITOR)
def inquiries_csv() -> ResponseReturnValue:
    try:
        filters = inquiry_log.InquiryFilter.parse(request.args.to_dict())
    except InvalidInput as exc:
        abort(422, "; ".join(f"{e.field}: {e.message}" for e in exc.errors))
    with transaction(db()):
        audit.record(db(), actor(), "inquiries_exported", now(), None, filters.query_args())
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


@bp.post("/loans")
@roles(ADMIN, ANALYST)
def loan_record() -> ResponseReturnValue:
    """One loan's record (history, monthly statuses, the reports corrections replaced,
    retractions), by its lender and reference, with a stated reason: audited, then shown."""
    form = request.form
    code, loan_ref, reason = (
        form.get("lender", ""),
        form.get("loan_ref", ""),
        form.get("reason", ""),
    )
    try:
        with transaction(db()):
            record = loan_view.loan_record(db(), code, loan_ref, reason, now(), actor())
    except InvalidInput as exc:
        abort(422, "; ".join(f"{e.field}: {e.message}" for e in exc.errors))
    except NotFound as exc:
        abort(404, str(exc))
    return render_template("console/loan.html", record=record, reason=reason.strip())


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
    with transaction(db(), write=False):
        result = audit.search(db(), filters, page_number())
        actions = audit.known_actions(db())
    return render_template(
        "console/audit.html",
        result=result,
        filters=filters,
        args=pager_args("actor", "action", "target", "since", "until"),
        errors=errors,
        actions=actions,
    ), (422 if errors else 200)
