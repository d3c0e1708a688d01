"""`/v1/inquiries`: the over-indebtedness report for one borrower token, and what came of
an application (its outcome)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from registry import metrics
from registry.api.auth import current_lender, lender_required, lender_required_cached
from registry.api.parsing import idempotency_key, json_body, parse_model
from registry.api.quotas import caller_limits, refused
from registry.db import transaction
from registry.extensions import db, now
from registry.hot_cache import caches
from registry.models import Purpose
from registry.problems import Problem, invalid
from registry.schemas.inquiries import InquiryBody, OutcomeBody, OutcomeOut
from registry.services import applications, inquiries, reciprocity, request_quotas
from registry.services.errors import Conflict, InvalidInput, NotFound, NotPermitted
from registry.services.policy import load_policy

POLICY = "policy"  # the policy cache's one key

bp = Blueprint("inquiries", __name__)


@bp.post("/inquiries")
@lender_required_cached
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
    lender, session, moment, hot = current_lender(), db(), now(), caches()
    try:
        key = idempotency_key()
        # The reads first: on SQLite in a read transaction (a WAL snapshot: no lock held), on
        # PostgreSQL in the transaction the writes then continue.
        reciprocity.check(session, lender, request.purpose, moment, hot.standing)  # give to get
        policy = hot.policy.get(POLICY, lambda: load_policy(session))
        prepared = inquiries.prepare(session, lender.id, request, moment, key, policy)
        # Then the writes, in the shortest writing transaction (SQLite's write lock).
        with transaction(session):
            outcome = inquiries.record(session, prepared)
            if not outcome.replayed:  # a replay is free
                request_quotas.charge_inquiry(session, lender, caller_limits(), moment)
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
    # Encoded by pydantic-core in one pass (the hot path's largest answer).
    response = Response(outcome.answer.model_dump_json(), mimetype="application/json")
    if outcome.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    else:
        metrics.INQUIRIES.labels(request.purpose.value).inc()
        if request.purpose == Purpose.ACCOUNT_REVIEW:
            metrics.ACCOUNT_REVIEWS.labels(lender.code).inc()
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
