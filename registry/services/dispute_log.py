"""The operator's view of disputes: every dispute with its lender's name and who opened it,
filtered by lender and status (open, overdue, answered), the most urgent first; and one
dispute by id. Reads only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session, aliased

from registry.models import Dispute, DisputeStatus, Lender, Operator
from registry.services.disputes import LIST_STATUSES, is_overdue, status_condition
from registry.services.errors import FieldError, InvalidInput, NotFound
from registry.services.paging import Paginated

__all__ = ["DisputeFilter", "DisputePage", "DisputeRow", "dispute_row", "search"]

MAX_PER_PAGE = 200


@dataclass(frozen=True)
class DisputeFilter:
    lender: str | None = None  # a lender's code
    status: str | None = None  # one of LIST_STATUSES

    @classmethod
    def parse(cls, args: dict[str, str]) -> DisputeFilter:
        lender = (args.get("lender") or "").strip() or None
        status = (args.get("status") or "").strip() or None
        if status is not None and status not in LIST_STATUSES:
            raise InvalidInput(
                "bad status", [FieldError("status", "one of " + ", ".join(LIST_STATUSES))]
            )
        return cls(lender, status)


@dataclass(frozen=True)
class DisputeRow:
    id: str
    borrower: str
    lender_code: str
    lender_name: str
    loan_ref: str
    tradeline: str
    opened_by: str  # "lender <code>" or "operator <username>"
    inquiry_id: str | None
    reason: str
    opened_at: datetime
    due_at: datetime
    status: str  # open or answered
    overdue: bool
    resolution: str | None
    note: str | None
    answered_at: datetime | None

    @property
    def answered_late(self) -> bool:
        return self.answered_at is not None and self.answered_at > self.due_at


@dataclass(frozen=True)
class DisputePage(Paginated):
    rows: list[DisputeRow]
    total: int
    page: int
    per_page: int


_OWNER = aliased(Lender)
_OPENER = aliased(Lender)


def _joined() -> Select[tuple[Dispute, str, str, str, str]]:
    """Each dispute with its lender's code and name, and its opener: a lender's code or an
    operator's name (the other one NULL, outer-joined)."""
    return (
        select(Dispute, _OWNER.code, _OWNER.name, _OPENER.code, Operator.username)
        .join(_OWNER, _OWNER.id == Dispute.lender_id)
        .outerjoin(_OPENER, _OPENER.id == Dispute.opened_by_lender_id)
        .outerjoin(Operator, Operator.id == Dispute.opened_by_operator_id)
    )


def dispute_row(
    dispute: Dispute,
    code: str,
    name: str,
    opener: str | None,
    operator: str | None,
    now: datetime,
) -> DisputeRow:
    opened_by = f"lender {opener}" if opener else f"operator {operator}" if operator else "desk"
    return DisputeRow(
        id=dispute.id,
        borrower=dispute.borrower.hex(),
        lender_code=code,
        lender_name=name,
        loan_ref=dispute.loan_ref,
        tradeline=dispute.tradeline,
        opened_by=opened_by,
        inquiry_id=dispute.inquiry_id,
        reason=dispute.reason,
        opened_at=dispute.opened_at,
        due_at=dispute.due_at,
        status=dispute.status,
        overdue=is_overdue(dispute, now),
        resolution=dispute.resolution,
        note=dispute.note,
        answered_at=dispute.answered_at,
    )


def _conditions(f: DisputeFilter, now: datetime) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if f.lender:
        conditions.append(_OWNER.code == f.lender)
    if f.status:
        conditions.append(status_condition(f.status, now))
    return conditions


def search(
    session: Session, f: DisputeFilter, now: datetime, page: int = 1, per_page: int = 50
) -> DisputePage:
    """Disputes matching the filter: open ones by deadline first, then answered ones, newest
    answer first. Two statements (rows and count)."""
    per_page, page = max(1, min(per_page, MAX_PER_PAGE)), max(1, page)
    conditions = _conditions(f, now)
    answered_last = Dispute.status == DisputeStatus.ANSWERED
    rows = session.execute(
        _joined()
        .where(*conditions)
        .order_by(answered_last, Dispute.due_at, Dispute.answered_at.desc(), Dispute.id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).tuples()
    total = session.scalar(
        select(func.count())
        .select_from(Dispute)
        .join(_OWNER, _OWNER.id == Dispute.lender_id)
        .where(*conditions)
    )
    return DisputePage(
        [dispute_row(d, code, name, opener, op, now) for d, code, name, opener, op in rows],
        int(total or 0),
        page,
        per_page,
    )


def get(session: Session, dispute_id: str, now: datetime) -> DisputeRow:
    found = session.execute(_joined().where(Dispute.id == dispute_id)).first()
    if found is None:
        raise NotFound(f"no dispute {dispute_id}")
    dispute, code, name, opener, operator = found
    return dispute_row(dispute, code, name, opener, operator, now)


def for_borrower(session: Session, borrower: bytes, now: datetime) -> list[DisputeRow]:
    """Every dispute of one borrower's records, newest first (the borrower page, the
    disclosure)."""
    rows = session.execute(
        _joined().where(Dispute.borrower == borrower).order_by(Dispute.opened_at.desc(), Dispute.id)
    ).tuples()
    return [dispute_row(d, code, name, opener, op, now) for d, code, name, opener, op in rows]
