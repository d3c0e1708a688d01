"""`/v1/loans`: report loan states in batches, read back the caller's own loans."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from flask import Blueprint, Response, jsonify, request

from registry import metrics
from registry.api.auth import current_lender, lender_required
from registry.api.parsing import idempotency_key, json_body, parse_model
from registry.api.quotas import caller_limits, refused
from registry.db import transaction
from registry.extensions import db, now
from registry.models import LoanStatus
from registry.problems import Problem, invalid
from registry.schemas.loans import MAX_BATCH, LoanOut, LoanPage, RetractionBody, RetractionOut
from registry.services import loans, reporting, request_quotas, retractions
from registry.services.errors import Conflict, FieldError, NotFound
from registry.services.fields import is_loan_ref
from registry.services.idempotency import fingerprint
from registry.services.lenders import KEY_PATTERN

bp = Blueprint("loans", __name__)


def _batch(body: Any) -> list[Any]:
    """The request-level checks; each record is then judged on its own by the service."""
    if not isinstance(body, dict):
        raise invalid([FieldError("(body)", "must be a JSON object with a 'loans' list")])
    errors = [FieldError(name, "unknown field") for name in body if name != "loans"]
    records = body.get("loans")
    if "loans" not in body:
        errors.append(FieldError("loans", "required"))
    elif not isinstance(records, list):
        errors.append(FieldError("loans", "must be a list of loan reports"))
    elif not 1 <= len(records) <= MAX_BATCH:
        errors.append(
            FieldError("loans", f"must hold 1 to {MAX_BATCH} reports, not {len(records)}")
        )
    if errors:
        raise invalid(errors)
    assert isinstance(records, list)
    return records


@bp.post("/loans")
@lender_required
def submit_loans() -> Response:
    key = idempotency_key()
    body = json_body()
    moment = now()
    batch = reporting.check(_batch(body), moment)  # before the lender's lock is taken
    try:
        with transaction(db()):
            outcome = reporting.submit(
                db(),
                current_lender().id,
                batch,
                moment,
                request_hash=fingerprint(body),
                idempotency_key=key,
            )
            if not outcome.replayed:  # a replay is free
                request_quotas.charge_records(
                    db(), current_lender(), len(batch.records), caller_limits(), moment
                )
    except Conflict as exc:
        raise Problem(409, str(exc), "idempotency-conflict") from None
    except request_quotas.QuotaExceeded as exc:
        raise refused(exc) from None
    answer = outcome.answer
    response = jsonify(answer.model_dump(mode="json"))
    if outcome.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    else:
        metrics.LOAN_RECORDS.labels("accepted").inc(answer.accepted)
        metrics.LOAN_RECORDS.labels("unchanged").inc(answer.unchanged)
        metrics.LOAN_RECORDS.labels("stale").inc(answer.stale)
        metrics.LOAN_RECORDS.labels("rejected").inc(len(answer.rejected))
    return response


@bp.get("/loans/<loan_ref:loan_ref>")
@lender_required
def get_loan(loan_ref: str) -> Response:
    try:
        loan = loans.get_loan(db(), current_lender().id, loan_ref)
    except NotFound as exc:
        raise Problem(404, str(exc)) from None
    return jsonify(LoanOut.model_validate(loan).model_dump(mode="json"))


@bp.delete("/loans/<loan_ref:loan_ref>")
@lender_required
def retract_loan(loan_ref: str) -> Response:
    """Retract a loan reported in error: gone from every report at once, a tombstone kept."""
    body = parse_model(RetractionBody, json_body())
    try:
        with transaction(db()):
            tombstone = retractions.retract(
                db(), current_lender().id, loan_ref, body.reason, now(), _key_name()
            )
            answer = RetractionOut.model_validate(tombstone, from_attributes=True)
    except NotFound as exc:
        raise Problem(404, str(exc)) from None
    return jsonify(answer.model_dump(mode="json"))


def _key_name() -> str:
    """Which of the lender's keys made the request (its non-secret prefix), for the tombstone."""
    presented = request.headers.get("Authorization", "").partition(" ")[2].strip()
    match = KEY_PATTERN.fullmatch(presented)
    return f"api_key:{match.group(1)}" if match else "api_key"


def _encode_cursor(loan_ref: str) -> str:
    return base64.urlsafe_b64encode(loan_ref.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> str:
    padded = cursor + "=" * (-len(cursor) % 4)
    try:
        after = base64.b64decode(padded, altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        after = ""
    if not is_loan_ref(after):
        raise invalid([FieldError("cursor", "not a cursor this API returned")])
    return after


@bp.get("/loans")
@lender_required
def list_loans() -> Response:
    errors = []
    status = request.args.get("status")
    if status is not None and status not in set(LoanStatus):
        errors.append(FieldError("status", "must be one of open, closed, written_off"))
    raw_limit = request.args.get("limit", str(loans.DEFAULT_PAGE))
    limit = int(raw_limit) if raw_limit.isascii() and raw_limit.isdigit() else 0
    if not 1 <= limit <= loans.MAX_PAGE:
        errors.append(FieldError("limit", f"must be an integer from 1 to {loans.MAX_PAGE}"))
    if errors:
        raise invalid(errors)
    cursor = request.args.get("cursor")
    after = _decode_cursor(cursor) if cursor else None
    page, last = loans.list_loans(db(), current_lender().id, status, after, limit)
    answer = LoanPage(
        data=[LoanOut.model_validate(loan) for loan in page],
        next_cursor=_encode_cursor(last) if last is not None else None,
    )
    return jsonify(answer.model_dump(mode="json"))
