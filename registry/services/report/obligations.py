"""What a report owes the borrower: their open disputes marked on the tradelines, and their
statement shown with the report.

Rules (`now` the report's moment):
- a tradeline is `disputed` while a dispute of its loan is open (unanswered), whoever opened
  it; `disputed_tradelines` counts them;
- a disputed tradeline whose dispute is past its deadline unanswered (`now` > `due_at`) counts
  towards no flag when the policy's `overdue_disputes_ignored` is 1: the flags then measure a
  summary computed without it (`Summary.flag_basis`), while the report's figures and its
  tradelines still show it. A lender that does not answer cannot keep a contested record
  working against the borrower;
- the statement is the borrower's own text (`borrower_statements`), or none.

One statement by token reads both (the open disputes and the statement).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime

from sqlalchemy import DateTime, Integer, String, bindparam, cast, literal, null, select, union_all
from sqlalchemy.orm import Session

from registry.db import core
from registry.models import BorrowerStatement, Dispute, DisputeStatus
from registry.services.report.figures import Summary, compute
from registry.services.report.tradelines import Tradeline

__all__ = ["Marks", "finish_summary", "mark_tradelines", "read_marks"]


@dataclass(frozen=True)
class Marks:
    # The earliest deadline of each loan's open disputes, by (lender_id, loan_ref).
    open_disputes: dict[tuple[int, str], datetime]
    statement: str | None


# Built once (the inquiry's hot path): the open disputes, and the statement, of one token.
_MARKS = union_all(
    select(
        literal("d", String).label("kind"),
        Dispute.lender_id,
        Dispute.loan_ref,
        Dispute.due_at,
        cast(null(), String).label("text"),
    ).where(Dispute.borrower == bindparam("borrower"), Dispute.status == DisputeStatus.OPEN),
    select(
        literal("s", String),
        cast(null(), Integer),
        cast(null(), String),
        cast(null(), DateTime(timezone=True)),
        BorrowerStatement.text,
    ).where(BorrowerStatement.borrower == bindparam("borrower")),
)


def read_marks(session: Session, borrower: bytes) -> Marks:
    open_disputes: dict[tuple[int, str], datetime] = {}
    statement = None
    for kind, lender_id, loan_ref, due_at, text in (
        core(session).execute(_MARKS, {"borrower": borrower}).tuples()
    ):
        if kind == "s":
            statement = text
            continue
        # The union's column takes the first select's type: a UTC timestamp (aware).
        due = due_at if due_at.tzinfo is not None else due_at.replace(tzinfo=UTC)
        key = (lender_id, loan_ref)
        if key not in open_disputes or due < open_disputes[key]:
            open_disputes[key] = due
    return Marks(open_disputes, statement)


def mark_tradelines(
    lines: list[Tradeline], marks: Marks, now: datetime, overdue_ignored: bool
) -> list[Tradeline]:
    """The tradelines with `disputed` set, and `counted` cleared where an overdue dispute
    takes the tradeline out of the flags."""
    if not marks.open_disputes:
        return lines
    marked = []
    for line in lines:
        due = marks.open_disputes.get((line.lender_id, line.loan.loan_ref))
        if due is None:
            marked.append(line)
            continue
        marked.append(replace(line, disputed=True, counted=not (overdue_ignored and now > due)))
    return marked


def finish_summary(
    summary: Summary,
    marks: Marks,
    caller_id: int,
    now: datetime,
    requested: tuple[int, str] | None,
) -> None:
    """Set the summary's disputed count, the statement and, when some tradelines count
    towards no flag, the figures the flags measure instead (`flag_basis`): the summary with
    every figure drawn from the tradelines computed again without them."""
    lines = summary.tradelines
    summary.disputed_tradelines = sum(line.disputed for line in lines)
    summary.statement = marks.statement
    counted = [line for line in lines if line.counted]
    if len(counted) == len(lines):
        return
    full, _ = compute(lines, caller_id, now, requested)
    fewer, _ = compute(counted, caller_id, now, requested)
    # The figures the tradelines make are those the two computations differ in; every other
    # figure (applications, identity, ...) is the summary's own.
    changed = {
        f.name: getattr(fewer, f.name)
        for f in fields(Summary)
        if getattr(full, f.name) != getattr(fewer, f.name)
    }
    summary.flag_basis = replace(summary, **changed)
