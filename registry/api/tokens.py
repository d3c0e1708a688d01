"""`/v1/tokens`: the registry's half of borrower tokenisation (RFC 9497 VOPRF).

Lenders blind their inner hashes, send them here, verify the proof against the published
key and finalise. The registry learns nothing about the IDs behind the elements.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from registry import metrics
from registry.api.auth import current_lender, lender_required
from registry.api.parsing import json_body, parse_model
from registry.db import transaction
from registry.extensions import db, now, signer, state
from registry.problems import Problem
from registry.schemas.tokens import TokenEvaluateBody, TokenEvaluationOut, TokenKeyOut
from registry.services import tokens
from registry.services.errors import InvalidInput

bp = Blueprint("tokens", __name__)


@bp.get("/tokens/key")
@lender_required
def published_key() -> Response:
    try:
        with transaction(db(), write=False):
            info = tokens.key_info(db())
    except tokens.TokensUnavailable as exc:
        raise Problem(503, str(exc), "tokens-unavailable") from None
    return jsonify(TokenKeyOut.from_info(info).model_dump(mode="json"))


@bp.post("/tokens/evaluate")
@lender_required
def evaluate() -> Response:
    body = parse_model(TokenEvaluateBody, json_body())
    try:
        # The quota charge is committed before the evaluation, which holds no lock.
        with transaction(db()):
            batch = tokens.charge_batch(
                db(),
                current_lender(),
                body.blinded_elements,
                body.key_id,
                now(),
                state().settings.token_quota_per_day,
            )
    except InvalidInput as exc:
        raise Problem(400, str(exc), "invalid-element", exc.errors) from None
    except tokens.QuotaExceeded as exc:
        raise Problem(
            429, str(exc), "token-quota-exceeded", headers={"Retry-After": str(exc.retry_after)}
        ) from None
    except tokens.TokensUnavailable as exc:
        raise Problem(503, str(exc), "tokens-unavailable") from None
    evaluation = tokens.evaluate(signer(), batch)
    metrics.TOKEN_ELEMENTS.labels(evaluation.key_id).inc(len(evaluation.evaluated_elements))
    return jsonify(TokenEvaluationOut.from_evaluation(evaluation).model_dump(mode="json"))
