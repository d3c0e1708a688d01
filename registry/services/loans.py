"""Reading a lender's own loans. Every query is scoped to the calling lender."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.models import Loan, LoanRef
from registry.services.errors import NotFound
from registry.services.fields import is_loan_ref

DEFAULT_PAGE, MAX_PAGE = 100, 1000


def get_loan(session: Session, lender_id: int, loan_ref: str) -> Loan:
    """The caller's loan. Another lender's reference is simply not found."""
    if not is_loan_ref(loan_ref):
        raise NotFound("no loan with that loan_ref")
    borrower = session.scalar(
        select(LoanRef.borrower).where(LoanRef.lender_id == lender_id, LoanRef.loan_ref == loan_ref)
    )
    loan = None
    if borrower is not None:
        loan = session.get(Loan, (borrower, lender_id, loan_ref))
    if loan is None:
        raise NotFound(f"no loan with loan_ref {loan_ref!r}")
    return loan


def list_loans(
    session: Session, lender_id: int, status: str | None, after: str | None, limit: int
) -> tuple[list[Loan], str | None]:
    """One page of the caller's loans in loan_ref order, and the loan_ref to continue after."""
    query = select(Loan).where(Loan.lender_id == lender_id)
    if status is not None:
        query = query.where(Loan.status == status)
    if after is not None:
        query = query.where(Loan.loan_ref > after)
    loans = list(session.scalars(query.order_by(Loan.loan_ref).limit(limit + 1)))
    if len(loans) > limit:
        return loans[:limit], loans[limit - 1].loan_ref
    return loans, None
