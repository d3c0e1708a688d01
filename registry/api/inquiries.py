"""`/v1/inquiries`: the over-indebtedness report for one borrower token, and what came of
an application (its outcome)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from registry import metrics
from registry.api.auth import current_lender, lender_required
from registry.api.parsing import idempotency_key, json_body, parse_model
from registry.api.quotas import caller_limits, refused
from registry.db import transaction
from registry.extensions import db, now
from registry.models import Purpose
from registry.problems import Problem, invalid
from registry.schemas.inquiries import InquiryBody, OutcomeBody, OutcomeOut
from registry.services import applications, inquiries, reciprocity, request_quotas
from registry.services.errors import Conflict, InvalidInput, NotFound, NotPermitted

bp = Blueprint("inquiries", __name__)


@bp.post("/inquiries")
@lender_required
def inquire() -> Response:
    body = parse_model(InquiryBody, json_body())
    request = inquiries.InquiryRequest(
        borrower=body.borrower,
        purpose=body.purpose,
        consent_ref=body.consent_ref,
        amount_requested=body.amount_requested,
        currency=body.currency,
        borrower_next=body.borrower_next,
        phone_token=body.phone_token,
    )
    try:
        key = idempotency_key()
        with transaction(db()):
            reciprocity.check(db(), current_lender(), request.purpose, now())  # give to get
            outcome = inquiries.inquire(
                db(), current_lender().id, request, now(), idempotency_key=key
            )
            if not outcome.replayed:  # a replay is free
                request_quotas.charge_inquiry(db(), current_lender(), caller_limits(), now())
    except InvalidInput as exc:
        raise invalid(exc.errors, str(exc)) from None
    except Conflict as exc:
        raise Problem(409, str(exc), "idempotency-conflict") from None
    except reciprocity.ReciprocityRefused as exc:
        raise Problem(403, str(exc), reciprocity.PROBLEM_SLUG) from None
    except NotPermitted as exc:
        raise Problem(403, str(exc), "forbidden") from None
    except request_quotas.QuotaExceeded as exc:
        raise refused(exc) from None
    response = jsonify(outcome.answer.model_dump(mode="json"))
    if outcome.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    else:
        metrics.INQUIRIES.labels(request.purpose.value).inc()
        if request.purpose == Purpose.ACCOUNT_REVIEW:
            metrics.ACCOUNT_REVIEWS.labels(current_lender().code).inc()
        for code in outcome.flag_codes:
            metrics.FLAGS.labels(code).inc()
    return response


@bp.post("/inquiries/<inquiry_id>/outcome")
@lender_required
def record_outcome(inquiry_id: str) -> tuple[Response, int]:
    """What came of one of the caller's new_credit inquiries: 201 the first time, 200 with
    the same answer when the same outcome is sent again."""
    body = parse_model(OutcomeBody, json_body())
    request = applications.OutcomeRequest(
        outcome=body.outcome, loan_ref=body.loan_ref, amount=body.amount, currency=body.currency
    )
    try:
        with transaction(db()):
            recorded = applications.record_outcome(
                db(), current_lender().id, inquiry_id, request, now()
            )
    except InvalidInput as exc:
        raise invalid(exc.errors, str(exc)) from None
    except NotFound as exc:
        raise Problem(404, str(exc)) from None
    except Conflict as exc:
        raise Problem(409, str(exc), "outcome-conflict") from None
    answer = OutcomeOut(
        inquiry_id=recorded.inquiry_id,
        outcome=recorded.outcome,
        loan_ref=recorded.loan_ref,
        amount=recorded.amount,
        currency=recorded.currency,
        inquired_at=recorded.inquired_at,
        recorded_at=recorded.recorded_at,
        provisional_until=recorded.provisional_until,
    )
    response = jsonify(answer.model_dump(mode="json"))
    if not recorded.created:
        response.headers["Idempotent-Replayed"] = "true"
    return response, 201 if recorded.created else 200
