"""The write half of an inquiry: record the report as answered (and the request's
Idempotency-Key, and the phone sighting it brings), or give back the answer recorded for an
earlier request with the same key.

`registry.services.inquiries.prepare` does every read and builds the answer; `record` writes
it. Between the two the caller may end its read transaction and begin its writing one
(`registry.db.transaction`): on SQLite the write lock is then held only for the writes. Every
statement here is built once and written in Core (no unit of work): they are the hot path.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, select, text
from sqlalchemy.orm import Session

from registry.db import core
from registry.models import Inquiry, InquiryKey, Lender
from registry.schemas.inquiries import IdentityOut, InquiryReportOut, RequestedOut, SummaryOut
from registry.services.errors import Conflict, FieldError, InvalidInput
from registry.services.idempotency import REUSED_KEY
from registry.services.loans import record_phones
from registry.services.report.figures import Summary
from registry.services.reporting import NO_ROTATION
from registry.services.tokens import open_rotation

# A report recorded before a figure existed is replayed with the figure's empty value.
_NEUTRAL_SUMMARY: dict[str, Any] = {
    name: value
    for name, value in asdict(Summary()).items()
    if name in SummaryOut.model_fields and not isinstance(value, list)
}
_NEUTRAL_IDENTITY = IdentityOut(phones_90d=0, max_borrowers_per_phone=0).model_dump()

_INQUIRIES: Table = Inquiry.__table__  # type: ignore[assignment]
_KEYS: Table = InquiryKey.__table__  # type: ignore[assignment]
_INSERT_INQUIRY = _INQUIRIES.insert()


@dataclass(frozen=True)
class InquiryOutcome:
    answer: InquiryReportOut  # the report as answered
    replayed: bool = False  # the stored answer to an earlier request with the same key

    @property
    def flag_codes(self) -> list[str]:
        return [flag.code for flag in self.answer.flags]


@dataclass(frozen=True)
class PreparedInquiry:
    """An inquiry read and answered, not yet recorded (`replay`: the answer to an earlier
    request with the same key, which records nothing)."""

    caller_id: int
    now: datetime
    borrower: bytes
    borrower_next: bytes | None
    phone: bytes | None
    consent_ref: str | None
    amount_requested: int | None
    currency: str | None
    request_hash: bytes
    idempotency_key: str | None
    answer: InquiryReportOut
    replay: bool = False


def requested_out(amount: int | None, currency: str | None) -> RequestedOut | None:
    if amount is None or currency is None:
        return None
    return RequestedOut(amount=amount, currency=currency)


def record(session: Session, prepared: PreparedInquiry) -> InquiryOutcome:
    """Write the inquiry (inside the caller's writing transaction); with a key, a concurrent
    request with the same key that got there first wins and its answer is given back."""
    if prepared.replay:
        return InquiryOutcome(prepared.answer, replayed=True)
    if prepared.borrower_next is not None:
        # As uploads do: a rotation being retired holds every lender row until it is done.
        session.execute(
            select(Lender.id).where(Lender.id == prepared.caller_id).with_for_update(key_share=True)
        )
        if open_rotation(session) is None:
            raise InvalidInput("the inquiry is invalid", [FieldError("borrower_next", NO_ROTATION)])
    answer = prepared.answer
    if prepared.idempotency_key is not None and not _claim_key(session, prepared):
        earlier = session.get(InquiryKey, (prepared.caller_id, prepared.idempotency_key))
        assert earlier is not None  # its claim is committed, or we would have waited for it
        return replay(session, earlier, prepared.request_hash)
    if prepared.phone is not None:
        record_phones(session, [(prepared.borrower, prepared.phone)], prepared.now)
    core(session).execute(
        _INSERT_INQUIRY,
        {
            "borrower": prepared.borrower,
            "id": answer.inquiry_id,
            "lender_id": prepared.caller_id,
            "purpose": answer.purpose.value,
            "consent_ref": prepared.consent_ref,
            "amount_requested": prepared.amount_requested,
            "currency": prepared.currency,
            "flags": [flag.code for flag in answer.flags],
            "created_at": prepared.now,
            # Without the token: the row's own column holds it, and a rotation rewrites it.
            "report": answer.model_dump(mode="json", exclude={"borrower"}),
            "borrower_next": prepared.borrower_next,
        },
    )
    return InquiryOutcome(answer)


_KEY_COLUMNS = (
    "lender_id",
    "idempotency_key",
    "request_hash",
    "borrower",
    "inquiry_id",
    "created_at",
)
# As text: SQLAlchemy compiles its ON CONFLICT constructs again on every execution, text
# once. Both backends spell it alike.
_CLAIM = text(
    f"INSERT INTO inquiry_keys ({', '.join(_KEY_COLUMNS)}) "  # noqa: S608 - our column names
    f"VALUES ({', '.join(':' + name for name in _KEY_COLUMNS)}) "
    "ON CONFLICT (lender_id, idempotency_key) DO NOTHING RETURNING inquiry_id"
).bindparams(*(bindparam(name, type_=_KEYS.c[name].type) for name in _KEY_COLUMNS))


def _claim_key(session: Session, prepared: PreparedInquiry) -> bool:
    """Insert the request's key unless another request has it (False then). PostgreSQL makes
    a concurrent claim of the same key wait for this one's transaction to end."""
    values = {
        "lender_id": prepared.caller_id,
        "idempotency_key": prepared.idempotency_key,
        "request_hash": prepared.request_hash,
        "borrower": prepared.borrower,
        "inquiry_id": prepared.answer.inquiry_id,
        "created_at": prepared.now,
    }
    return core(session).execute(_CLAIM, values).first() is not None


def replay(session: Session, earlier: InquiryKey, request_hash: bytes) -> InquiryOutcome:
    """The answer recorded for `earlier`'s request, if this one is the same request."""
    if earlier.request_hash != request_hash:
        raise Conflict(REUSED_KEY)
    inquiry = session.get(Inquiry, (earlier.borrower, earlier.inquiry_id))
    assert inquiry is not None  # written in the same transaction as its key
    stored = dict(inquiry.report)
    # Recorded before reports named the requested amount: the row's own columns hold it.
    if "requested" not in stored:
        requested = requested_out(inquiry.amount_requested, inquiry.currency)
        stored["requested"] = requested.model_dump() if requested else None
    # Recorded before reports carried tradelines, applications or identity figures: the
    # figures it had none of take their empty values.
    stored.setdefault("tradelines", [])
    stored["summary"] = {**_NEUTRAL_SUMMARY, **stored["summary"]}
    stored.setdefault("identity", _NEUTRAL_IDENTITY)
    # The answer as first given, with the borrower's token as it is stored now.
    answer = InquiryReportOut.model_validate({**stored, "borrower": inquiry.borrower.hex()})
    return InquiryOutcome(answer, replayed=True)
