"""Loan reporting: a batch of full-state reports becomes a handful of set-based statements.

Per batch: validate every record on its own (`check`, before the unit of work begins), lock
the lender (one batch of a lender at a time, which also makes the idempotency check
race-free), read the stored state of every loan named in the batch with two queries, decide
each record in memory in batch order, then write the new state, the history rows and the
submission. The caller owns the transaction (`registry.db.transaction`): this module flushes,
never commits.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.models import (
    STATE_FIELDS,
    Lender,
    LoanStatus,
    Submission,
)
from registry.schemas.common import FieldErrorOut
from registry.schemas.loans import MAX_BATCH as MAX_BATCH  # re-exported: callers batch by it
from registry.schemas.loans import RecordWarning, RejectedRecord, SubmissionOut
from registry.services import corrections
from registry.services.errors import Conflict, FieldError
from registry.services.idempotency import REUSED_KEY, fingerprint
from registry.services.loan_months import Months
from registry.services.loan_report import LoanReport, loan_ref_of, parse_record
from registry.services.loan_store import (
    BatchWrites,
    CurrentLoan,
    load_current,
    remember_rejections,
    write_batch,
)
from registry.services.loans import record_reported_phones
from registry.services.tokens import open_rotation
from registry_protocol.payment_status import month_of

BORROWER_CHANGED = (
    "differs from the borrower this loan_ref was first reported with; "
    "a loan's borrower never changes"
)
SAME_AS_OF_CONFLICT = (
    "a different state was already reported for this loan with the same as_of; "
    'send it with "correction": true to replace that report'
)
NO_ROTATION = (
    "no token rotation window is open; refresh the token key (GET /v1/tokens/key) "
    "and send borrower only"
)


def _rejection(index: int, loan_ref: str | None, errors: list[FieldError]) -> RejectedRecord:
    return RejectedRecord(
        index=index,
        loan_ref=loan_ref,
        errors=[FieldErrorOut(field=e.field, message=e.message) for e in errors],
    )


@dataclass
class CheckedBatch:
    """A batch after each record was judged on its own: what needs no database."""

    records: list[Any]  # as received
    valid: list[tuple[int, LoanReport]]
    rejected: list[RejectedRecord]
    warnings: list[RecordWarning]  # of valid records: the answer keeps those not rejected later


@dataclass(frozen=True)
class SubmissionOutcome:
    answer: SubmissionOut  # the answer to send (and, first time, the one stored)
    replayed: bool = False  # the stored answer to an earlier request with the same key


@dataclass
class _Tally:
    """The counts of a batch being decided."""

    submission_id: str
    rejected: list[RejectedRecord]
    accepted: int = 0
    unchanged: int = 0
    stale: int = 0

    def reject(self, index: int, loan_ref: str, field: str, message: str) -> None:
        self.rejected.append(
            _rejection(index, loan_ref, [FieldError(f"loans[{index}].{field}", message)])
        )

    def answer(self, warnings: list[RecordWarning]) -> SubmissionOut:
        rejected = {r.index for r in self.rejected}
        return SubmissionOut(
            submission_id=self.submission_id,
            accepted=self.accepted,
            unchanged=self.unchanged,
            stale=self.stale,
            rejected=sorted(self.rejected, key=lambda r: r.index),
            warnings=[w for w in warnings if w.index not in rejected],
        )


def check(records: list[Any], now: datetime) -> CheckedBatch:
    """Judge each record on its own. No database: call it before the unit of work begins,
    so that a large batch is not validated while the lender's lock is held."""
    valid = []
    rejected = []
    warnings = []
    for index, raw in enumerate(records):
        path = f"loans[{index}]"
        report, errors = parse_record(raw, path, now)
        if report is None:
            rejected.append(_rejection(index, loan_ref_of(raw), errors))
        else:
            valid.append((index, report))
            warnings += [
                RecordWarning(
                    index=index, loan_ref=report.loan_ref, field=f"{path}.{name}", message=text
                )
                for name, text in report.warnings()
            ]
    return CheckedBatch(records, valid, rejected, warnings)


def submit(
    session: Session,
    lender_id: int,
    batch: CheckedBatch,
    now: datetime,
    request_hash: bytes,
    idempotency_key: str | None = None,
) -> SubmissionOutcome:
    """Apply a checked batch for one lender inside the caller's (writing) transaction.
    See the module docstring."""
    # One batch per lender at a time. NO KEY UPDATE: the lender's inquiries (whose foreign
    # key needs a KEY SHARE lock on this row) do not wait for its uploads.
    session.execute(select(Lender.id).where(Lender.id == lender_id).with_for_update(key_share=True))
    if idempotency_key is not None:
        earlier = session.scalar(
            select(Submission).where(
                Submission.lender_id == lender_id, Submission.idempotency_key == idempotency_key
            )
        )
        if earlier is not None:
            if earlier.request_hash != request_hash:
                raise Conflict(REUSED_KEY)
            return SubmissionOutcome(SubmissionOut.model_validate(earlier.response), True)

    tally = _Tally(str(uuid.uuid4()), list(batch.rejected))
    valid = batch.valid
    if any(report.borrower_next for _, report in valid) and open_rotation(session) is None:
        valid = _without_next_tokens(valid, tally)
    current = load_current(session, lender_id, [report for _, report in valid])
    corrected = {r.loan_ref for _, r in valid if r.correction and r.loan_ref in current}
    for ref, rows in corrections.load_history(
        session, lender_id, {ref: current[ref].borrower for ref in corrected}
    ).items():
        current[ref].history = rows
    decided = BatchWrites(Months())
    _decide(valid, current, lender_id, tally, now, decided)
    write_batch(session, lender_id, current, decided, tally.submission_id, now)
    record_reported_phones(session, valid, tally.rejected, now)
    repeated = remember_rejections(session, lender_id, batch.records, tally.rejected, now)
    answer = tally.answer(batch.warnings)
    session.add(
        Submission(
            id=tally.submission_id,
            lender_id=lender_id,
            idempotency_key=idempotency_key,
            request_hash=request_hash,
            records=len(batch.records),
            accepted=tally.accepted,
            unchanged=tally.unchanged,
            stale=tally.stale,
            rejected=len(tally.rejected),
            repeated_rejections=repeated,
            response=answer.model_dump(mode="json"),
            created_at=now,
        )
    )
    session.flush()
    return SubmissionOutcome(answer)


def submit_loans(
    session: Session,
    lender_id: int,
    records: list[Any],
    now: datetime,
    idempotency_key: str | None = None,
    request_hash: bytes | None = None,
) -> SubmissionOutcome:
    """`check` then `submit`, for callers without a request body of their own (the demo)."""
    return submit(
        session,
        lender_id,
        check(records, now),
        now,
        request_hash or fingerprint({"loans": records}),
        idempotency_key,
    )


def _without_next_tokens(
    valid: list[tuple[int, LoanReport]], tally: _Tally
) -> list[tuple[int, LoanReport]]:
    """Outside a rotation window a second token has no meaning: reject the records with one."""
    kept = []
    for index, report in valid:
        if report.borrower_next is None:
            kept.append((index, report))
        else:
            tally.reject(index, report.loan_ref, "borrower_next", NO_ROTATION)
    return kept


def _decide(
    valid: list[tuple[int, LoanReport]],
    current: dict[str, CurrentLoan],
    lender_id: int,
    tally: _Tally,
    now: datetime,
    decided: BatchWrites,
) -> None:
    """Judge each record in batch order against the state so far (the table in
    docs/architecture.md), gathering what to write in `decided`."""
    for index, report in valid:
        token = bytes.fromhex(report.borrower)
        token_next = bytes.fromhex(report.borrower_next) if report.borrower_next else None
        loan = current.get(report.loan_ref)
        if report.correction:
            if loan is not None and loan.borrower != token:
                tally.reject(index, report.loan_ref, "borrower", BORROWER_CHANGED)
            else:
                _correct(index, report, loan, lender_id, tally, now, decided)
            continue
        state = report.state()
        if loan is None:
            loan = current[report.loan_ref] = CurrentLoan(
                token, state, report.as_of, now, token_next, True, history={}
            )
            decided.new_refs.append(
                {
                    "lender_id": lender_id,
                    "loan_ref": report.loan_ref,
                    "borrower": token,
                    "created_at": now,
                }
            )
            _accept(loan, report, lender_id, tally, now, decided)
            continue
        if loan.borrower != token:
            tally.reject(index, report.loan_ref, "borrower", BORROWER_CHANGED)
            continue
        elif report.as_of < loan.as_of:
            tally.stale += 1
        elif state == loan.state:
            if report.as_of > loan.as_of:
                loan.as_of, loan.touched = report.as_of, True
                decided.months.report(
                    token, report.loan_ref, report.as_of, report.status, report.days_past_due
                )
            tally.unchanged += 1
        elif report.as_of == loan.as_of:
            tally.reject(index, report.loan_ref, "as_of", SAME_AS_OF_CONFLICT)
            continue
        else:
            loan.state, loan.as_of, loan.touched = state, report.as_of, True
            _accept(loan, report, lender_id, tally, now, decided)
        # A re-report during a rotation window brings the next token, whatever its state.
        if token_next is not None and token_next != loan.borrower_next:
            loan.borrower_next, loan.touched = token_next, True


def _accept(
    loan: CurrentLoan,
    report: LoanReport,
    lender_id: int,
    tally: _Tally,
    now: datetime,
    decided: BatchWrites,
) -> None:
    """A new state: its history row, its month, and a first write-off remembered."""
    row = _history_row(lender_id, report, loan.borrower, loan.state, tally.submission_id, now)
    decided.history.append(row)
    if loan.history is not None:
        loan.history[report.as_of] = row
    decided.months.report(
        loan.borrower, report.loan_ref, report.as_of, report.status, report.days_past_due
    )
    if report.status == LoanStatus.WRITTEN_OFF and loan.written_off is None:
        loan.written_off = (report.outstanding, report.closed_on)
    tally.accepted += 1


def _correct(
    index: int,
    report: LoanReport,
    loan: CurrentLoan | None,
    lender_id: int,
    tally: _Tally,
    now: datetime,
    decided: BatchWrites,
) -> None:
    """A correction: the history row with the same as_of takes the reported state."""
    rows = loan.history if loan is not None else None
    row = rows.get(report.as_of) if rows is not None else None
    if loan is None or rows is None or row is None:
        tally.reject(index, report.loan_ref, "as_of", corrections.NO_SUCH_REPORT)
        return
    state = report.state()
    if tuple(row[name] for name in STATE_FIELDS) == state:
        tally.unchanged += 1
        return
    key = (report.loan_ref, report.as_of)
    stored = "borrower" not in row  # rows added by this batch are the insert's dicts
    if stored and key not in decided.corrected:
        decided.trail.append(
            {
                "borrower": loan.borrower,
                "lender_id": lender_id,
                "loan_ref": report.loan_ref,
                "as_of": report.as_of,
                "corrected_at": now,
                "replaced": corrections.replaced_state(row),
                "submission_id": tally.submission_id,
            }
        )
        decided.corrected[key] = (loan.borrower, report.loan_ref, row)
    row.update(zip(STATE_FIELDS, state, strict=True))
    row.update(submission_id=tally.submission_id, recorded_at=now)
    if report.as_of == max(rows):  # the newest report: the current state follows it
        loan.state, loan.touched = state, True
    decided.months.recompute(
        loan.borrower, report.loan_ref, month_of(report.as_of.date()), rows.values()
    )
    tally.accepted += 1


def _history_row(
    lender_id: int,
    report: LoanReport,
    token: bytes,
    state: tuple[Any, ...],
    submission_id: str,
    now: datetime,
) -> dict[str, Any]:
    row = dict(zip(STATE_FIELDS, state, strict=True))
    row.update(
        borrower=token,
        lender_id=lender_id,
        loan_ref=report.loan_ref,
        as_of=report.as_of,
        submission_id=submission_id,
        recorded_at=now,
    )
    return row
