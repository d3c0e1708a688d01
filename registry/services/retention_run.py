"""The retention run: remove what is past retention (`registry.services.retention`'s rules).

What goes, and what goes with it:
- loans past retention, with their history, months, replaced history rows (corrections) and
  disputes; then every `loan_refs` row that no longer names a loan;
- inquiries made more than 2 years ago and their Idempotency-Keys (`inquiry_keys`); the
  application outcomes recorded more than 2 years ago;
- phone sightings last seen more than 90 days ago, and those of a borrower the run removed
  something of who has nothing left on file (no loan, no inquiry, no application outcome).
The audit log is kept, and gets one event per run with the counts.

Each batch (`batch_size` rows of one kind) is its own unit of work, so that a large run never
holds a huge transaction and a failed run leaves only whole batches behind; the next run goes
on where it stopped (the run is idempotent). Loans are deleted under the same lender lock as an
upload, so that a report of a loan never interleaves with its removal.

A dry run computes the same counts and removes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast

from sqlalchemy import (
    ColumnElement,
    CursorResult,
    Select,
    and_,
    delete,
    exists,
    func,
    literal,
    select,
    tuple_,
)
from sqlalchemy.orm import Session

from registry.db import transaction
from registry.models import (
    ApplicationOutcome,
    BorrowerPhone,
    Dispute,
    Inquiry,
    InquiryKey,
    Lender,
    Loan,
    LoanCorrection,
    LoanHistory,
    LoanMonth,
    LoanRef,
    PhoneBorrower,
)
from registry.services import audit
from registry.services.policy import load_policy
from registry.services.retention import (
    NEGATIVE_RETENTION_MONTHS,
    PHONE_SIGNAL_DAYS,
    RECORD_RETENTION_MONTHS,
    first_kept_day,
    past_retention,
)
from registry.services.retention_loans import LoanKey, candidates, loan_facts, loan_key

SYSTEM = audit.Actor("system")
BATCH_SIZE = 500


@dataclass
class RetentionCounts:
    """Rows removed (or, in a dry run, that would be), per kind."""

    loans: int = 0
    loan_history: int = 0
    loan_months: int = 0
    loan_corrections: int = 0
    disputes: int = 0
    loan_refs: int = 0
    inquiries: int = 0
    application_outcomes: int = 0
    inquiry_keys: int = 0
    phone_sightings: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class Cutoffs:
    """Anything that ended (or was made, or last seen) before these is past retention."""

    today: date
    closed: date  # clean closed loans, by closing date
    negative: date  # negative loans, by the end of the negative event
    records: datetime  # inquiries and application outcomes
    phones: datetime  # phone sightings
    retention_closed_months: int

    @classmethod
    def at(cls, now: datetime, retention_closed_months: int) -> Cutoffs:
        today = now.date()
        records = first_kept_day(today, RECORD_RETENTION_MONTHS)
        return cls(
            today=today,
            closed=first_kept_day(today, retention_closed_months),
            negative=first_kept_day(today, NEGATIVE_RETENTION_MONTHS),
            records=datetime.combine(records, time.min, tzinfo=UTC),
            phones=now - timedelta(days=PHONE_SIGNAL_DAYS),
            retention_closed_months=retention_closed_months,
        )


def _rowcount(result: Any) -> int:
    return cast(CursorResult[Any], result).rowcount or 0


def _remove(session: Session, model: Any, where: ColumnElement[bool], dry_run: bool) -> int:
    """Delete the rows of `model` matching `where`, or count them in a dry run."""
    if dry_run:
        return session.scalar(select(func.count()).select_from(model).where(where)) or 0
    statement = delete(model).where(where).execution_options(synchronize_session=False)
    return _rowcount(session.execute(statement))


# --- loans --------------------------------------------------------------------------------


def _lock_lenders(session: Session, lender_ids: Iterable[int]) -> None:
    """The lock an upload takes (FOR NO KEY UPDATE), in id order so that runs never deadlock."""
    ids = sorted(set(lender_ids))
    session.execute(
        select(Lender.id)
        .where(Lender.id.in_(ids))
        .order_by(Lender.id)
        .with_for_update(key_share=True)
    ).all()


def _remove_loans(
    session: Session, doomed: list[LoanKey], counts: RetentionCounts, dry_run: bool
) -> None:
    counts.loan_history += _remove(session, LoanHistory, loan_key(LoanHistory).in_(doomed), dry_run)
    counts.loan_months += _remove(session, LoanMonth, loan_key(LoanMonth).in_(doomed), dry_run)
    counts.loan_corrections += _remove(
        session, LoanCorrection, loan_key(LoanCorrection).in_(doomed), dry_run
    )
    counts.disputes += _remove(session, Dispute, loan_key(Dispute).in_(doomed), dry_run)
    counts.loans += _remove(session, Loan, loan_key(Loan).in_(doomed), dry_run)


@dataclass
class _Progress:
    counts: RetentionCounts
    touched: set[bytes]  # borrowers the run removed something of
    doomed: set[LoanKey]  # in a dry run: the loans that would go (they are still there)


def _loans_pass(
    session: Session, cut: Cutoffs, progress: _Progress, dry_run: bool, batch_size: int
) -> None:
    after: LoanKey | None = None
    while True:
        with transaction(session, write=not dry_run):
            page = [
                (b, lender_id, ref)
                for b, lender_id, ref in session.execute(
                    candidates(after, batch_size, cut.closed, cut.negative)
                ).tuples()
            ]
            if not page:
                return
            after = page[-1]
            if not dry_run:
                _lock_lenders(session, (key[1] for key in page))
            facts = loan_facts(session, page)  # read again under the lock
            doomed = [
                key
                for key, fact in facts.items()
                if past_retention(fact, cut.today, cut.retention_closed_months)
            ]
            if doomed:
                _remove_loans(session, doomed, progress.counts, dry_run)
                progress.touched.update(key[0] for key in doomed)
                if dry_run:
                    progress.doomed.update(doomed)


def _orphan_refs(after: tuple[int, str] | None, limit: int) -> Select[Any]:
    named = exists().where(Loan.lender_id == LoanRef.lender_id, Loan.loan_ref == LoanRef.loan_ref)
    statement = (
        select(LoanRef.lender_id, LoanRef.loan_ref)
        .where(~named)
        .order_by(LoanRef.lender_id, LoanRef.loan_ref)
        .limit(limit)
    )
    if after is not None:
        statement = statement.where(
            tuple_(LoanRef.lender_id, LoanRef.loan_ref) > tuple_(*map(literal, after))
        )
    return statement


def _loan_refs_pass(session: Session, progress: _Progress, dry_run: bool, batch_size: int) -> None:
    after: tuple[int, str] | None = None
    while True:
        with transaction(session, write=not dry_run):
            page = list(session.execute(_orphan_refs(after, batch_size)).tuples())
            if not page:
                break
            after = page[-1]
            progress.counts.loan_refs += _remove(
                session, LoanRef, tuple_(LoanRef.lender_id, LoanRef.loan_ref).in_(page), dry_run
            )
    if dry_run and progress.doomed:
        # The references the doomed loans will orphan (a reference names one loan).
        refs = {(lender_id, ref) for _, lender_id, ref in progress.doomed}
        with transaction(session, write=False):
            for chunk in _chunks(sorted(refs), 500):
                progress.counts.loan_refs += (
                    session.scalar(
                        select(func.count())
                        .select_from(LoanRef)
                        .where(tuple_(LoanRef.lender_id, LoanRef.loan_ref).in_(chunk))
                    )
                    or 0
                )


# --- inquiries, outcomes, keys -------------------------------------------------------------


def _sweep(
    session: Session,
    key: Sequence[Any],
    where: ColumnElement[bool],
    batch_size: int,
    dry_run: bool,
    touched: set[bytes] | None = None,
) -> int:
    """Remove the rows matching `where` in batches, each its own unit of work (or count them
    in a dry run); `key` is the table's primary key, the borrower first where `touched`
    collects the borrowers concerned."""
    model = key[0].class_
    if dry_run:
        with transaction(session, write=False):
            if touched is not None:
                touched.update(session.scalars(select(key[0]).where(where)))
            return _remove(session, model, where, True)
    total = 0
    while True:
        with transaction(session):
            page = list(session.execute(select(*key).where(where).limit(batch_size)).tuples())
            if not page:
                return total
            total += _remove(session, model, tuple_(*key).in_(page), False)
            if touched is not None:
                touched.update(row[0] for row in page)


def _records_pass(
    session: Session, cut: Cutoffs, progress: _Progress, dry_run: bool, batch_size: int
) -> None:
    """Inquiries, application outcomes and inquiries' Idempotency-Keys older than 2 years."""
    counts, touched = progress.counts, progress.touched
    counts.inquiries += _sweep(
        session,
        (Inquiry.borrower, Inquiry.id),
        Inquiry.created_at < cut.records,
        batch_size,
        dry_run,
        touched,
    )
    with transaction(session, write=False):
        lender_ids = list(session.scalars(select(Lender.id).order_by(Lender.id)))
    for lender_id in lender_ids:  # by lender: the (lender_id, recorded_at) index answers
        counts.application_outcomes += _sweep(
            session,
            (ApplicationOutcome.borrower, ApplicationOutcome.inquiry_id),
            and_(
                ApplicationOutcome.lender_id == lender_id,
                ApplicationOutcome.recorded_at < cut.records,
            ),
            batch_size,
            dry_run,
            touched,
        )
    counts.inquiry_keys += _sweep(
        session,
        (InquiryKey.lender_id, InquiryKey.idempotency_key),
        InquiryKey.created_at < cut.records,
        batch_size,
        dry_run,
    )


# --- phones --------------------------------------------------------------------------------


def _phones_pass(
    session: Session, cut: Cutoffs, progress: _Progress, dry_run: bool, batch_size: int
) -> None:
    """Sightings last seen over 90 days ago, then those of borrowers left with nothing."""
    progress.counts.phone_sightings += _sweep(
        session,
        (BorrowerPhone.borrower, BorrowerPhone.phone),
        BorrowerPhone.last_seen_at < cut.phones,
        batch_size,
        dry_run,
    )
    _sweep(  # the same sightings, by phone
        session,
        (PhoneBorrower.phone, PhoneBorrower.borrower),
        PhoneBorrower.last_seen_at < cut.phones,
        batch_size,
        dry_run,
    )
    for chunk in _chunks(sorted(progress.touched), batch_size):
        with transaction(session, write=not dry_run):
            alone = set(chunk) - _still_on_file(session, chunk, cut, progress.doomed)
            if not alone:
                continue
            fresh = and_(
                BorrowerPhone.borrower.in_(alone), BorrowerPhone.last_seen_at >= cut.phones
            )
            pairs = list(
                session.execute(
                    select(BorrowerPhone.borrower, BorrowerPhone.phone).where(fresh)
                ).tuples()
            )
            if not pairs:
                continue
            progress.counts.phone_sightings += len(pairs)
            if not dry_run:
                _remove(
                    session,
                    BorrowerPhone,
                    tuple_(BorrowerPhone.borrower, BorrowerPhone.phone).in_(pairs),
                    False,
                )
                mirrored = [(phone, borrower) for borrower, phone in pairs]
                _remove(
                    session,
                    PhoneBorrower,
                    tuple_(PhoneBorrower.phone, PhoneBorrower.borrower).in_(mirrored),
                    False,
                )


def _still_on_file(
    session: Session, borrowers: Sequence[bytes], cut: Cutoffs, doomed: set[LoanKey]
) -> set[bytes]:
    """Of `borrowers`, those with a loan, an inquiry or an application outcome kept (in a dry
    run, the loans that would go do not count)."""
    kept: set[bytes] = set()
    loans = session.execute(
        select(Loan.borrower, Loan.lender_id, Loan.loan_ref).where(Loan.borrower.in_(borrowers))
    ).tuples()
    kept.update(key[0] for key in loans if key not in doomed)
    kept.update(
        session.scalars(
            select(Inquiry.borrower).where(
                Inquiry.borrower.in_(borrowers), Inquiry.created_at >= cut.records
            )
        )
    )
    kept.update(
        session.scalars(
            select(ApplicationOutcome.borrower).where(
                ApplicationOutcome.borrower.in_(borrowers),
                ApplicationOutcome.recorded_at >= cut.records,
            )
        )
    )
    return kept


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


# --- the run -------------------------------------------------------------------------------


def run_retention(
    session: Session,
    now: datetime,
    *,
    dry_run: bool = False,
    batch_size: int = BATCH_SIZE,
    actor: audit.Actor = SYSTEM,
) -> dict[str, int]:
    """Remove everything past retention at `now`; the counts per kind. Each batch commits on
    its own (see the module's docstring): call it outside any unit of work."""
    with transaction(session, write=False):
        policy = load_policy(session)
    cut = Cutoffs.at(now, policy.retention_closed_months)
    progress = _Progress(RetentionCounts(), set(), set())
    _loans_pass(session, cut, progress, dry_run, batch_size)
    _loan_refs_pass(session, progress, dry_run, batch_size)
    _records_pass(session, cut, progress, dry_run, batch_size)
    _phones_pass(session, cut, progress, dry_run, batch_size)
    counts = progress.counts.as_dict()
    if not dry_run:
        with transaction(session):
            audit.record(
                session,
                actor,
                "retention_run",
                now,
                None,
                {
                    "removed": counts,
                    "retention_closed_months": policy.retention_closed_months,
                },
            )
    return counts
