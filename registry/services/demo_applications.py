"""The demo's applications: its lenders' `new_credit` inquiries about the most indebted demo
borrowers (2 to 40, over the last 20 days: application sprees), what came of them, and the
phones the borrowers gave.

Most demo applications have an outcome: approved (the loan then reported under the approval's
reference when the lender holds one for that borrower, else left provisional, or expired
unreported when older than `provisional_days`), declined or withdrawn; some of the last two
days' are still pending. Borrowers give a phone with their loans; three of the over-indebted
ones share one (an identity-fraud ring: `SHARED_PHONE`). Through the same services as real
traffic, inside the caller's unit of work.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from registry.models import Lender, Outcome, Purpose
from registry.services import applications, inquiries

__all__ = [
    "SHARED_PHONE_BORROWERS",
    "DemoApplication",
    "demo_phone",
    "record_demo_outcomes",
    "seed_applications",
]

# Three over-indebted demo borrowers who gave their lenders the same phone number.
SHARED_PHONE_BORROWERS = (37, 38, 39)
PENDING_HOURS = 48  # younger applications may still be pending
_OUTCOMES = (Outcome.APPROVED, Outcome.DECLINED, Outcome.WITHDRAWN)
_OUTCOME_WEIGHTS = (45, 40, 15)


def demo_phone(number: int) -> str:
    """Demo borrower `number`'s mobile number (one shared by `SHARED_PHONE_BORROWERS`)."""
    if number in SHARED_PHONE_BORROWERS:
        number = SHARED_PHONE_BORROWERS[0]
    return f"139{number:08d}"


@dataclass(frozen=True)
class DemoApplication:
    """A demo `new_credit` inquiry, and the loan its lender holds for that borrower if any."""

    lender_id: int
    lender_code: str
    number: int  # the demo borrower
    inquiry_id: str
    inquired_at: datetime
    amount: int
    held_loan: tuple[str, int] | None  # (loan_ref, principal)


def seed_applications(
    session: Session,
    rng: random.Random,
    demo_lenders: list[Lender],
    borrower_token: Callable[[int], str],
    phone_token: Callable[[int], str],
    held: Mapping[tuple[int, str], tuple[str, int]],
    now: datetime,
) -> None:
    """Inquiries about demo borrowers 2 to 40 by 1 to all demo lenders each, then their
    outcomes. `held` gives the loan (reference, principal) a lender holds for a borrower."""
    applied: list[DemoApplication] = []
    for number in range(2, 41):
        askers = rng.sample(demo_lenders, rng.randint(1, len(demo_lenders)))
        for lender in askers:
            at = now - timedelta(hours=rng.randint(1, 24 * 20))
            request = inquiries.InquiryRequest(
                borrower=borrower_token(number),
                purpose=Purpose.NEW_CREDIT,
                consent_ref=f"demo-consent-{number}-{lender.code}",
                amount_requested=rng.choice([100_000, 300_000, 500_000]),
                currency="CNY",
                phone_token=phone_token(number),
            )
            answer = inquiries.inquire(session, lender.id, request, at).answer
            amount = request.amount_requested or 0
            loan = held.get((lender.id, request.borrower))
            applied.append(
                DemoApplication(lender.id, lender.code, number, answer.inquiry_id, at, amount, loan)
            )
    outcomes = random.Random("demo outcomes")  # noqa: S311 - demo data, not a secret
    record_demo_outcomes(session, outcomes, applied, now)


def record_demo_outcomes(
    session: Session,
    rng: random.Random,
    demo_applications: list[DemoApplication],
    now: datetime,
) -> None:
    """Record an outcome for most demo applications (see the module's docstring)."""
    for application in demo_applications:
        age = now - application.inquired_at
        if age < timedelta(hours=PENDING_HOURS) and rng.random() < 0.5:
            continue  # still pending: other lenders see it as such
        outcome = rng.choices(_OUTCOMES, weights=_OUTCOME_WEIGHTS)[0]
        delay = timedelta(minutes=rng.randint(5, 240))
        recorded_at = min(now, application.inquired_at + delay)
        request = applications.OutcomeRequest(outcome)
        if outcome == Outcome.APPROVED:
            if application.held_loan is not None:  # approved, then reported
                loan_ref, amount = application.held_loan
            else:  # approved, not reported (yet, or ever)
                loan_ref = f"D{application.number:04d}-{application.lender_code}-A"
                amount = application.amount
            request = applications.OutcomeRequest(outcome, loan_ref, amount, "CNY")
        applications.record_outcome(
            session, application.lender_id, application.inquiry_id, request, recorded_at
        )
