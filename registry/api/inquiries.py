"""`/v1/inquiries`: the over-indebtedness report for one borrower token."""

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
from registry.schemas.inquiries import InquiryBody
from registry.services import inquiries, request_quotas
from registry.services.errors import Conflict, InvalidInput, NotPermitted

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
    )
    try:
        key = idempotency_key()
        with transaction(db()):
            outcome = inquiries.inquire(
                db(), current_lender().id, request, now(), idempotency_key=key
            )
            if not outcome.replayed:  # a replay is free
                request_quotas.charge_inquiry(db(), current_lender(), caller_limits(), now())
    except InvalidInput as exc:
        raise invalid(exc.errors, str(exc)) from None
    except Conflict as exc:
        raise Problem(409, str(exc), "idempotency-conflict") from None
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
