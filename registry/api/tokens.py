"""`/v1/tokens`: the registry's half of borrower tokenisation (RFC 9497 VOPRF).

Lenders blind their inner hashes, send them here, verify the proof against the published
key and finalise. The registry learns nothing about the IDs behind the elements.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from registry import metrics
from registry.api.auth import current_lender, lender_required
from registry.api.parsing import json_body, parse_model
from registry.api.problems import Problem
from registry.extensions import db, now, signer, state
from registry.schemas.tokens import TokenEvaluateBody
from registry.services import tokens
from registry.services.errors import InvalidInput

bp = Blueprint("tokens", __name__)


@bp.get("/tokens/key")
@lender_required
def published_key() -> Response:
    try:
        info = tokens.key_info(db())
    except tokens.TokensUnavailable as exc:
        raise Problem(503, str(exc), "tokens-unavailable") from None
    return jsonify(info.to_json())


@bp.post("/tokens/evaluate")
@lender_required
def evaluate() -> Response:
    body = parse_model(TokenEvaluateBody, json_body())
    try:
        evaluation = tokens.evaluate(
            db(),
            signer(),
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
    metrics.TOKEN_ELEMENTS.labels(evaluation.key_id).inc(len(evaluation.evaluated_elements))
    return jsonify(evaluation.to_json())
