"""Where a batch of loan reports meets the tables: the stored state of the loans it names
(two reads), and what its decisions write (`registry.services.reporting` decides): the new
references, the loans, the history rows, the months, corrected rows and their trail, the
fingerprints of rejected records. A fixed handful of set-based statements whatever the
batch size (`registry.services.bulk`). Flushes, never commits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.models import STATE_FIELDS, Loan, LoanHistory, LoanRef, RejectedFingerprint
from registry.schemas.loans import RejectedRecord
from registry.services import corrections
from registry.services.bulk import insert_rows, one_of
from registry.services.idempotency import fingerprint
from registry.services.loan_months import Months
from registry.services.loan_report import LoanReport


@dataclass
class CurrentLoan:
    """A loan's state while the batch is being decided."""

    borrower: bytes
    state: tuple[Any, ...]
    as_of: datetime
    first_reported_at: datetime
    borrower_next: bytes | None = None
    touched: bool = False
    # Set by the first accepted written_off report of this batch; the upsert keeps a value
    # already stored (the first write-off ever), so that it survives later states.
    written_off: tuple[int, Any] | None = None
    # The loan's history rows by as_of, when the batch corrects the loan (or creates it).
    history: dict[datetime, dict[str, Any]] | None = None


@dataclass
class BatchWrites:
    """What a batch's decisions write: new references, history rows, months, corrections."""

    months: Months
    new_refs: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    # Stored history rows a correction rewrote (borrower, loan_ref, row), and the trail.
    corrected: dict[tuple[str, datetime], tuple[bytes, str, dict[str, Any]]] = field(
        default_factory=dict
    )
    trail: list[dict[str, Any]] = field(default_factory=list)


def load_current(
    session: Session, lender_id: int, reports: list[LoanReport]
) -> dict[str, CurrentLoan]:
    refs = {r.loan_ref for r in reports}
    if not refs:
        return {}
    known = dict(
        session.execute(
            select(LoanRef.loan_ref, LoanRef.borrower).where(
                LoanRef.lender_id == lender_id, one_of(session, LoanRef.loan_ref, refs)
            )
        )
        .tuples()
        .all()
    )
    if not known:
        return {}
    columns = [getattr(Loan, name) for name in STATE_FIELDS]
    rows = session.execute(
        select(
            Loan.loan_ref, Loan.as_of, Loan.first_reported_at, Loan.borrower_next, *columns
        ).where(
            one_of(session, Loan.borrower, set(known.values())),
            Loan.lender_id == lender_id,
            one_of(session, Loan.loan_ref, known.keys()),
        )
    )
    current = {}
    for ref, as_of, first_reported_at, borrower_next, *state in rows:
        current[ref] = CurrentLoan(
            known[ref], tuple(state), as_of, first_reported_at, borrower_next
        )
    return current


def write_batch(
    session: Session,
    lender_id: int,
    current: dict[str, CurrentLoan],
    decided: BatchWrites,
    submission_id: str,
    now: datetime,
) -> None:
    """A fixed handful of set-based statements, whatever the batch size: the new references,
    the loans, the history rows, the months; and in a batch with corrections, the rewritten
    history rows, their trail and the recomputed months."""
    insert_rows(session, LoanRef.__table__, decided.new_refs)  # type: ignore[arg-type]
    upserts = [
        {
            "borrower": loan.borrower,
            "lender_id": lender_id,
            "loan_ref": ref,
            **dict(zip(STATE_FIELDS, loan.state, strict=True)),
            "as_of": loan.as_of,
            "first_reported_at": loan.first_reported_at,
            "last_reported_at": now,
            "last_submission_id": submission_id,
            "borrower_next": loan.borrower_next,
            "written_off_amount": loan.written_off[0] if loan.written_off else None,
            "written_off_on": loan.written_off[1] if loan.written_off else None,
        }
        for ref, loan in current.items()
        if loan.touched
    ]
    insert_rows(session, Loan.__table__, upserts, _on_loan_conflict)  # type: ignore[arg-type]
    insert_rows(session, LoanHistory.__table__, decided.history)  # type: ignore[arg-type]
    corrections.write(session, lender_id, list(decided.corrected.values()), decided.trail)
    decided.months.write(session, lender_id)


def remember_rejections(
    session: Session,
    lender_id: int,
    records: list[Any],
    rejected: list[RejectedRecord],
    now: datetime,
) -> int:
    """How many rejected records repeat one this lender had rejected before (in an earlier
    upload, or earlier in this one); the new ones are remembered. Two statements, and none
    for a batch without rejections."""
    if not rejected:
        return 0
    prints = [fingerprint(records[rejection.index]) for rejection in rejected]
    known = set(
        session.scalars(
            select(RejectedFingerprint.fingerprint).where(
                RejectedFingerprint.lender_id == lender_id,
                one_of(session, RejectedFingerprint.fingerprint, set(prints)),
            )
        )
    )
    new: list[bytes] = []
    for print_ in prints:
        if print_ not in known:
            known.add(print_)
            new.append(print_)
    if new:
        insert_rows(
            session,
            RejectedFingerprint.__table__,  # type: ignore[arg-type]
            [{"lender_id": lender_id, "fingerprint": p, "first_rejected_at": now} for p in new],
        )
    return len(prints) - len(new)


def _on_loan_conflict(statement: Any) -> Any:
    """A loan already stored takes the new state; its first write-off stays."""
    updated = (*STATE_FIELDS, "as_of", "last_reported_at", "last_submission_id", "borrower_next")
    stored = Loan.__table__.c
    return statement.on_conflict_do_update(
        index_elements=["borrower", "lender_id", "loan_ref"],
        set_={
            **{name: statement.excluded[name] for name in updated},
            # The first write-off ever reported stays (negative history survives).
            **{
                name: func.coalesce(stored[name], statement.excluded[name])
                for name in ("written_off_amount", "written_off_on")
            },
        },
    )
