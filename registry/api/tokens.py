"""`/v1/tokens`: the registry's half of borrower tokenisation (RFC 9497 VOPRF).

Lenders blind their inner hashes, send them here, verify the proof against the published
key and finalise. The registry learns nothing about the IDs behind the elements.

During a rotation window a lender also reads what it holds without a next token
(`/tokens/rotation/pending`) and sends next tokens for it (`/tokens/rotation/mappings`).
"""

from __future__ import annotations

import base64
import binascii

from flask import Blueprint, Response, jsonify, request

from registry import metrics
from registry.api.auth import current_lender, lender_required
from registry.api.parsing import json_body, parse_model
from registry.db import transaction
from registry.extensions import db, now, signer, state
from registry.problems import Problem, invalid
from registry.schemas.tokens import (
    PendingItemOut,
    PendingPageOut,
    PendingTotalsOut,
    TokenEvaluateBody,
    TokenEvaluationOut,
    TokenKeyOut,
    TokenMappingsBody,
    TokenMappingsOut,
)
from registry.services import tokens
from registry.services.errors import FieldError, InvalidInput
from registry.services.tokens import rotation_pending as pending

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


@bp.get("/tokens/rotation/pending")
@lender_required
def rotation_pending() -> Response:
    """The caller's loans (closed and written off too), inquiries and outcomes within
    retention, and disputes of its loans, whose borrower it has given no next token yet."""
    errors = []
    kind = request.args.get("kind") or None
    if kind is not None and kind not in pending.KINDS:
        errors.append(FieldError("kind", f"must be one of {', '.join(pending.KINDS)}"))
    raw_limit = request.args.get("limit", str(pending.DEFAULT_PAGE))
    limit = int(raw_limit) if raw_limit.isascii() and raw_limit.isdigit() else 0
    if not 1 <= limit <= pending.MAX_PAGE:
        errors.append(FieldError("limit", f"must be an integer from 1 to {pending.MAX_PAGE}"))
    cursor = request.args.get("cursor")
    after = _decode_cursor(cursor, kind) if cursor else None
    if errors:
        raise invalid(errors)
    try:
        with transaction(db(), write=False):
            page = pending.pending_page(db(), current_lender().id, now(), kind, after, limit)
    except pending.NoRotationWindow as exc:
        raise Problem(409, str(exc), "no-rotation-window") from None
    answer = PendingPageOut(
        data=[PendingItemOut.from_row(row) for row in page.rows],
        next_cursor=_encode_cursor(page.after) if page.after else None,
        totals=PendingTotalsOut.from_totals(page.totals),
    )
    return jsonify(answer.model_dump(mode="json"))


@bp.post("/tokens/rotation/mappings")
@lender_required
def rotation_mappings() -> Response:
    """Next tokens for borrowers the caller names by their current token: every row it
    holds about each gets it (closed loans and inquiries, which no upload re-sends)."""
    body = parse_model(TokenMappingsBody, json_body())
    pairs = [(bytes.fromhex(m.borrower), bytes.fromhex(m.borrower_next)) for m in body.mappings]
    try:
        with transaction(db()):
            outcome = pending.map_next_tokens(db(), current_lender().id, pairs)
    except pending.NoRotationWindow as exc:
        raise Problem(409, str(exc), "no-rotation-window") from None
    except InvalidInput as exc:
        raise invalid(exc.errors, str(exc)) from None
    return jsonify(TokenMappingsOut.from_outcome(outcome).model_dump(mode="json"))


def _encode_cursor(after: tuple[str, str]) -> str:
    raw = f"{after[0]}:{after[1]}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, kind: str | None) -> tuple[str, str]:
    padded = cursor + "=" * (-len(cursor) % 4)
    try:
        text = base64.b64decode(padded, altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    found, _, key = text.partition(":")
    if found not in pending.KINDS or not key or (kind is not None and found != kind):
        raise invalid([FieldError("cursor", "not a cursor this API returned")])
    return found, key
