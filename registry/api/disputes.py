"""`/v1/disputes`: open a dispute of a tradeline (relaying the borrower), list and answer the
disputes of the caller's own records."""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, Response, g, jsonify, request

from registry.api.auth import current_lender, lender_required
from registry.api.parsing import json_body, parse_model
from registry.db import transaction
from registry.extensions import db, now
from registry.models import Dispute, DisputeResolution, DisputeStatus
from registry.problems import Problem, invalid
from registry.schemas.disputes import (
    AnswerBody,
    DisputeBody,
    DisputeList,
    DisputeOut,
    OpenedDisputeOut,
)
from registry.services import audit, disputes
from registry.services.errors import Conflict, InvalidInput, NotFound

bp = Blueprint("disputes", __name__)
CONFLICT = "dispute-conflict"


def _actor() -> audit.Actor:
    return audit.Actor(f"lender:{current_lender().code}", request.remote_addr, g.get("request_id"))


def _resolution(dispute: Dispute) -> DisputeResolution | None:
    return DisputeResolution(dispute.resolution) if dispute.resolution else None


def owner_view(dispute: Dispute, moment: datetime) -> DisputeOut:
    return DisputeOut(
        id=dispute.id,
        borrower=dispute.borrower.hex(),
        loan_ref=dispute.loan_ref,
        reason=dispute.reason,
        opened_via="lender" if dispute.opened_by_lender_id is not None else "registry",
        opened_at=dispute.opened_at,
        due_at=dispute.due_at,
        status=DisputeStatus(dispute.status),
        overdue=disputes.is_overdue(dispute, moment),
        resolution=_resolution(dispute),
        note=dispute.note,
        answered_at=dispute.answered_at,
    )


def opener_view(dispute: Dispute, moment: datetime) -> OpenedDisputeOut:
    return OpenedDisputeOut(
        id=dispute.id,
        inquiry_id=dispute.inquiry_id,
        tradeline=dispute.tradeline,
        reason=dispute.reason,
        opened_at=dispute.opened_at,
        due_at=dispute.due_at,
        status=DisputeStatus(dispute.status),
        overdue=disputes.is_overdue(dispute, moment),
        resolution=_resolution(dispute),
        answered_at=dispute.answered_at,
    )


def _view(dispute: Dispute, moment: datetime) -> dict[str, object]:
    """The owner's view for the owning lender, the opener's for anyone else who may see it."""
    if dispute.lender_id == current_lender().id:
        return owner_view(dispute, moment).model_dump(mode="json")
    return opener_view(dispute, moment).model_dump(mode="json")


@bp.post("/disputes")
@lender_required
def open_dispute() -> tuple[Response, int]:
    """201 with the new dispute; 200 with the open one when the caller already disputed that
    record with the same reason (a retry)."""
    body = parse_model(DisputeBody, json_body())
    moment = now()
    try:
        with transaction(db()):
            opened = disputes.open_by_lender(
                db(),
                current_lender().id,
                body.inquiry_id,
                body.tradeline,
                body.reason,
                moment,
                _actor(),
            )
            answer = opener_view(opened.dispute, moment)
    except InvalidInput as exc:
        raise invalid(exc.errors, str(exc)) from None
    except Conflict as exc:
        raise Problem(409, str(exc), CONFLICT) from None
    response = jsonify(answer.model_dump(mode="json"))
    if not opened.created:
        response.headers["Idempotent-Replayed"] = "true"
    return response, 201 if opened.created else 200


@bp.get("/disputes")
@lender_required
def list_disputes() -> Response:
    status = request.args.get("status") or None
    moment = now()
    try:
        with transaction(db(), write=False):
            found = disputes.list_for_lender(db(), current_lender().id, status, moment)
            answer = DisputeList(data=[owner_view(d, moment) for d in found])
    except InvalidInput as exc:
        raise invalid(exc.errors, str(exc)) from None
    return jsonify(answer.model_dump(mode="json"))


@bp.get("/disputes/<dispute_id>")
@lender_required
def get_dispute(dispute_id: str) -> Response:
    moment = now()
    try:
        with transaction(db(), write=False):
            dispute = disputes.get_for_lender(db(), current_lender().id, dispute_id)
            answer = _view(dispute, moment)
    except NotFound as exc:
        raise Problem(404, str(exc)) from None
    return jsonify(answer)


@bp.post("/disputes/<dispute_id>/answer")
@lender_required
def answer_dispute(dispute_id: str) -> Response:
    body = parse_model(AnswerBody, json_body())
    moment = now()
    try:
        with transaction(db()):
            dispute = disputes.answer(
                db(),
                current_lender().id,
                dispute_id,
                body.resolution.value,
                body.note,
                moment,
                _actor(),
            )
            answer = owner_view(dispute, moment)
    except NotFound as exc:
        raise Problem(404, str(exc)) from None
    except Conflict as exc:
        raise Problem(409, str(exc), CONFLICT) from None
    except InvalidInput as exc:
        raise invalid(exc.errors, str(exc)) from None
    return jsonify(answer.model_dump(mode="json"))
