"""Disputes: a borrower contests one of their records through you (``POST /v1/disputes``),
and you answer the disputes of your own records (``GET /v1/disputes``,
``POST /v1/disputes/<id>/answer``) within the registry's ``dispute_days`` (20 by default).

You open a dispute through one of your reports about the borrower (its ``inquiry_id``, at
most 90 days old) and the label of the contested tradeline there (``"B"``, or ``"B/2"`` for
the second tradeline under B). The registry finds whose loan it is and asks that lender to
answer; you never learn the lender or its reference, only the dispute's deadline and, later,
its outcome.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from lender_client.errors import ConflictError, UnexpectedResponseError
from lender_client.idempotency import key_or_new
from lender_client.parsing import enum_or_str, parse_timestamp, required
from lender_client.transport import Transport

__all__ = ["Dispute", "DisputeResolution", "DisputeStatus", "DisputesAPI", "OpenedDispute"]


class DisputeResolution(enum.StrEnum):
    CONFIRMED = "confirmed"  # the record stands
    CORRECTED = "corrected"  # you sent a correction ("correction": true) since it opened
    RETRACTED = "retracted"  # you retracted the loan since it opened


class DisputeStatus(enum.StrEnum):
    OPEN = "open"
    ANSWERED = "answered"


STATUS_FILTERS = ("open", "overdue", "answered")


def _optional_time(data: Mapping[str, Any], key: str) -> datetime | None:
    value = data.get(key)
    return parse_timestamp(value) if value is not None else None


def _optional_text(data: Mapping[str, Any], key: str) -> str | None:
    return required(data, key, str) if data.get(key) is not None else None


def _shared_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    """What every dispute's JSON holds alike, whoever sees it: its reason, deadline and
    outcome (the raw object too)."""
    resolution = _optional_text(data, "resolution")
    return {
        "id": required(data, "id", str),
        "reason": required(data, "reason", str),
        "opened_at": parse_timestamp(required(data, "opened_at", str)),
        "due_at": parse_timestamp(required(data, "due_at", str)),
        "status": enum_or_str(DisputeStatus, required(data, "status", str)),
        "overdue": required(data, "overdue", bool),
        "resolution": enum_or_str(DisputeResolution, resolution) if resolution else None,
        "answered_at": _optional_time(data, "answered_at"),
        "raw": dict(data),
    }


@dataclass(frozen=True, slots=True)
class Dispute:
    """A dispute of one of your records: ``loan_ref`` is your loan; answer by ``due_at``.
    ``opened_via`` is ``lender`` (relayed by a member lender, never named) or ``registry``
    (the operator's desk). ``overdue``: still open past ``due_at``."""

    id: str
    borrower: str
    loan_ref: str
    reason: str
    opened_via: str
    opened_at: datetime
    due_at: datetime
    status: DisputeStatus | str
    overdue: bool
    resolution: DisputeResolution | str | None
    note: str | None
    answered_at: datetime | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Dispute:
        try:
            return cls(
                borrower=required(data, "borrower", str),
                loan_ref=required(data, "loan_ref", str),
                opened_via=required(data, "opened_via", str),
                note=_optional_text(data, "note"),
                **_shared_fields(data),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise UnexpectedResponseError(f"unreadable dispute in response: {exc}") from exc


@dataclass(frozen=True, slots=True)
class OpenedDispute:
    """A dispute you opened, as you see it: the tradeline label you named, the deadline by
    which the owning lender answers, and the outcome once it has."""

    id: str
    inquiry_id: str | None
    tradeline: str
    reason: str
    opened_at: datetime
    due_at: datetime
    status: DisputeStatus | str
    overdue: bool
    resolution: DisputeResolution | str | None
    answered_at: datetime | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> OpenedDispute:
        try:
            return cls(
                inquiry_id=_optional_text(data, "inquiry_id"),
                tradeline=required(data, "tradeline", str),
                **_shared_fields(data),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise UnexpectedResponseError(f"unreadable dispute in response: {exc}") from exc


def _dispute_path(dispute_id: str, tail: str = "") -> str:
    if not isinstance(dispute_id, str) or not dispute_id.strip():
        raise ValueError("dispute_id must be a dispute's id")
    try:
        return "/v1/disputes/" + quote(dispute_id.strip(), safe="").replace(".", "%2E") + tail
    except UnicodeEncodeError:
        raise ValueError("dispute_id is not valid Unicode (a lone surrogate)") from None


class DisputesAPI(Transport):
    """``/v1/disputes``."""

    def open_dispute(
        self,
        inquiry_id: str,
        tradeline: str,
        reason: str,
        *,
        idempotency_key: str | None = None,
    ) -> OpenedDispute:
        """Relay a borrower's dispute of tradeline ``tradeline`` (its label, ``"B"`` or
        ``"B/2"``) of your report ``inquiry_id`` (at most 90 days old), with the borrower's
        ``reason``.

        Opening the same dispute again (the same record, the same reason) returns the open
        one, so the call is retried like any other; the same record with another reason
        while it is open raises :class:`ConflictError`. An unknown or old inquiry, or a label
        that is not in its report, raises :class:`ValidationError` naming the field.
        """
        for name, value in (("inquiry_id", inquiry_id), ("tradeline", tradeline)):
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{name} must not be empty")
        if not isinstance(reason, str) or not reason.strip():
            raise ValueError("reason must say what the borrower contests")
        body = {"inquiry_id": inquiry_id.strip(), "tradeline": tradeline.strip(), "reason": reason}
        data = self.request(
            "POST", "/v1/disputes", json_body=body, idempotency_key=key_or_new(idempotency_key)
        )
        return OpenedDispute.from_json(self._json_object(data, "a dispute"))

    def list_disputes(self, status: str | None = None) -> list[Dispute]:
        """The disputes of your records, the most urgent first: ``status`` ``"open"``
        (unanswered, overdue ones included), ``"overdue"`` or ``"answered"``; all by
        default."""
        if status is not None and str(status) not in STATUS_FILTERS:
            raise ValueError(f"status must be one of {', '.join(STATUS_FILTERS)}, not {status!r}")
        params = {"status": str(status)} if status is not None else None
        data = self._json_object(self.request("GET", "/v1/disputes", params=params), "a list")
        items = data.get("data")
        if not isinstance(items, list):
            raise UnexpectedResponseError("a list of disputes should have data")
        return [Dispute.from_json(self._json_object(item, "a dispute")) for item in items]

    def get_dispute(self, dispute_id: str) -> Dispute | OpenedDispute:
        """One dispute: of your record (a :class:`Dispute`) or one you opened (an
        :class:`OpenedDispute`). Any other raises :class:`NotFoundError`."""
        data = self._json_object(self.request("GET", _dispute_path(dispute_id)), "a dispute")
        return Dispute.from_json(data) if "loan_ref" in data else OpenedDispute.from_json(data)

    def answer_dispute(
        self,
        dispute_id: str,
        resolution: DisputeResolution | str,
        note: str | None = None,
    ) -> Dispute:
        """Answer a dispute of your record, once: ``confirmed`` (the record stands),
        ``corrected`` (after you sent a correction of the loan, ``"correction": true``) or
        ``retracted`` (after you retracted it), with an optional ``note`` of what you found.

        A dispute answered already raises :class:`ConflictError`, except when a retry of this
        call finds it answered exactly so (the earlier attempt's answer was lost): the dispute
        is then returned. Not your record: :class:`NotFoundError`; a resolution whose
        condition is not met: :class:`ValidationError` on ``resolution``.
        """
        text = str(resolution)
        if text not in {r.value for r in DisputeResolution}:
            choices = ", ".join(r.value for r in DisputeResolution)
            raise ValueError(f"resolution must be one of {choices}, not {text!r}")
        body: dict[str, Any] = {"resolution": text}
        if note is not None:
            body["note"] = note
        path = _dispute_path(dispute_id, "/answer")
        try:
            data = self.request("POST", path, json_body=body)
        except ConflictError as exc:
            if exc.attempts <= 1:
                raise
            stored = self.get_dispute(dispute_id)
            if (
                isinstance(stored, Dispute)
                and stored.resolution == text
                and stored.note == (note.strip() if note and note.strip() else None)
            ):
                return stored
            raise
        return Dispute.from_json(self._json_object(data, "a dispute"))
