"""Borrower look-up pages: by token, and by ID with the token made in the operator's browser.

A look-up by ID never sends the ID or the consortium pepper here. The page's script
(static/console/lookup.js) normalises and peppers the ID, blinds it, has `borrower_evaluate`
evaluate the blinded element, checks the proof against the key this page publishes, and
then posts the token to `borrower_lookup` like a look-up by token. The registry sees a
random group element and, afterwards, a token: never what links the two.
"""

from __future__ import annotations

from flask import jsonify, render_template, request
from flask.typing import ResponseReturnValue

from registry import metrics
from registry.console.auth import ADMIN, ANALYST, actor, roles
from registry.console.blueprint import bp
from registry.db import transaction
from registry.extensions import db, now, signer
from registry.problems import Problem
from registry.schemas.tokens import TokenEvaluationOut
from registry.services import lookup, tokens
from registry.services.errors import FieldError, InvalidInput
from registry_protocol.ids import BORROWER_KINDS, ISO_3166_ALPHA3


def _field_errors(errors: list[FieldError]) -> dict[str, str]:
    return {e.field: e.message for e in errors}


def _lookup_form(
    code: int, errors: dict[str, str] | None = None, **fields: str
) -> ResponseReturnValue:
    """The look-up page: by token (prefilled with `token`) and by ID, each with its reason.
    The by-ID form carries the published token key its script checks proofs against."""
    values = {"token": "", "reason": ""} | fields
    try:
        with transaction(db(), write=False):
            key: tokens.KeyInfo | None = tokens.key_info(db())
    except tokens.TokensUnavailable:
        key = None
    return render_template(
        "console/borrowers.html",
        errors=errors or {},
        key=key,
        id_kinds=BORROWER_KINDS,
        countries=" ".join(sorted(ISO_3166_ALPHA3)),
        **values,
    ), code


def _show_borrower(token: str, reason: str) -> ResponseReturnValue:
    """The audited look-up itself: the audit row (with the reason) and the page, or nothing."""
    try:
        with transaction(db()):
            result = lookup.look_up(db(), token, reason, now(), actor())
    except InvalidInput as exc:
        return _lookup_form(422, _field_errors(exc.errors), token=token, reason=reason)
    return render_template(
        "console/borrower.html",
        result=result,
        inquiring_label=lookup.INQUIRING_LABEL,
        inquiring_note=lookup.INQUIRING_NOTE,
    )


@bp.get("/borrowers")
@roles(ADMIN, ANALYST)
def borrowers() -> ResponseReturnValue:
    """The forms only: nothing about a borrower is read or shown without a stated reason."""
    return _lookup_form(200, token=request.args.get("token", "").strip().lower())


@bp.post("/borrowers", endpoint="borrower_lookup")
@roles(ADMIN, ANALYST)
def borrower_lookup() -> ResponseReturnValue:
    """A look-up by token, with its reason: audited, then shown (a POST with the CSRF token,
    so that no link or other site can write an audited look-up in the operator's name).
    The look-up by ID ends here too, with the token its script made."""
    return _show_borrower(request.form.get("token", ""), request.form.get("reason", ""))


@bp.post("/borrowers/evaluate", endpoint="borrower_evaluate")
@roles(ADMIN, ANALYST)
def borrower_evaluate() -> ResponseReturnValue:
    """One blinded element of a look-up by ID, evaluated under the current key with its DLEQ
    proof (JSON, as `POST /v1/tokens/evaluate` answers). Audited as `token_evaluation` with
    the kind of ID and the reason, and capped per operator and day; errors are problem
    documents for the page's script."""
    form = request.form
    try:
        reason = lookup.parse_reason(form.get("reason", ""))
        with transaction(db()):
            batch = tokens.charge_operator_evaluation(
                db(),
                form.get("blinded_element", ""),
                form.get("id_kind", ""),
                form.get("key_id", ""),
                reason,
                now(),
                actor(),
            )
    except InvalidInput as exc:
        return Problem(422, str(exc), "validation", exc.errors).to_response()
    except tokens.QuotaExceeded as exc:
        headers = {"Retry-After": str(exc.retry_after)}
        return Problem(429, str(exc), "token-quota-exceeded", headers=headers).to_response()
    except tokens.TokensUnavailable as exc:
        return Problem(503, str(exc), "tokens-unavailable").to_response()
    evaluation = tokens.evaluate(signer(), batch)
    metrics.TOKEN_ELEMENTS.labels(evaluation.key_id).inc(len(evaluation.evaluated_elements))
    return jsonify(TokenEvaluationOut.from_evaluation(evaluation).model_dump(mode="json"))


@bp.get("/borrowers/<token>")
@roles(ADMIN, ANALYST)
def borrower(token: str) -> ResponseReturnValue:
    """Where a link to a borrower lands (the inquiries page): the look-up form for that
    token, asking for the reason; the record itself comes from the form's POST."""
    try:
        lookup.parse_token(token)
    except InvalidInput as exc:
        return _lookup_form(404, _field_errors(exc.errors), token=token)
    return _lookup_form(200, token=token.lower())
