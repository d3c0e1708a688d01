"""Demo data: a few lenders, hundreds of borrowers, some of them over-indebted, and recent
inquiries and submissions spread over the last month. Everything goes through the same
services as real traffic, inside the caller's unit of work (this module never commits).
Idempotent: data is created once; each run issues fresh demo keys (the old ones are revoked).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from registry.models import ApiKey, KeyState, Lender, Loan, Purpose, TokenKey
from registry.services import audit, inquiries, lenders, reporting, tokens
from registry.signer import Signer
from registry_protocol.ids import complete_resident_id, normalize_id
from registry_protocol.pepper import inner_token_input, pepper_fingerprint

DEMO_LENDERS = (
    ("lendwell", "Lendwell Consumer Finance"),
    ("quickcash", "QuickCash Online"),
    ("harbor", "Harbor Microcredit"),
    ("pinetree", "Pinetree Installments"),
    ("northstar", "Northstar Credit Line"),
)
BORROWERS = 400
# Borrower 1 owes two demo lenders: a third lender's loan makes MULTI_LENDER fire (README).
WALKTHROUGH_BORROWER = 1
DEMO_KEY_LABEL = "demo"
# Each demo lender reports every `cadence` days, the last time `last` days ago, so that the
# submissions chart varies by day and the lenders' "last report" differs (days ago).
REPORTING = {
    "lendwell": (1, 0),
    "quickcash": (2, 1),
    "harbor": (3, 2),
    "pinetree": (7, 4),
    "northstar": (5, 9),
}
WINDOW_DAYS = 30


# The demo consortium's pepper: public, so that anyone can follow the walk-through. A real
# consortium generates 32 random bytes and hands them to members out of band.
DEMO_PEPPER = hashlib.sha256(b"debt-registry demo pepper, never use in production").digest()
# Borrower 1 is the README's applicant: GB 11643's own example number.
WALKTHROUGH_ID = "11010519491231002X"
_DEMO_REGIONS = ("110105", "310104", "440106", "330106", "510107", "420111")


def demo_id(number: int) -> str:
    """A valid-looking resident ID (real check digit) for demo borrower `number`."""
    if number == WALKTHROUGH_BORROWER:
        return WALKTHROUGH_ID
    region = _DEMO_REGIONS[number % len(_DEMO_REGIONS)]
    born = date(1965, 1, 1) + timedelta(days=(number * 7919) % 12_000)
    return complete_resident_id(f"{region}{born:%Y%m%d}{number % 1000:03d}")


class DemoTokens:
    """Demo borrowers' tokens, made as lenders make them (pepper, then the OPRF), but
    evaluated directly: the demo runs where the key is."""

    def __init__(self, session: Session, signer: Signer, now: datetime) -> None:
        key = session.scalar(select(TokenKey).where(TokenKey.state == KeyState.CURRENT))
        if key is None:
            key = tokens.init_key(session, signer, now, audit.Actor("demo"))
            fingerprint = pepper_fingerprint(DEMO_PEPPER)
            tokens.set_pepper_fingerprint(session, fingerprint, now, audit.Actor("demo"))
        self._key_id, self._signer = key.key_id, signer
        self._cache: dict[int, str] = {}

    def __call__(self, number: int) -> str:
        if number not in self._cache:
            kind = "cn_resident_id"
            inner = inner_token_input(DEMO_PEPPER, kind, normalize_id(kind, demo_id(number)))
            self._cache[number] = self._signer.evaluate(self._key_id, inner)[:32].hex()
        return self._cache[number]


@dataclass(frozen=True)
class DemoResult:
    created: bool
    keys: list[tuple[str, str, str]]  # (code, name, api key)
    walkthrough_borrower: str  # token
    over_indebted_borrower: str  # token
    walkthrough_id: str
    over_indebted_id: str
    pepper_hex: str


def _lender_count(rng: random.Random, number: int) -> int:
    if number == WALKTHROUGH_BORROWER:
        return 2
    if number <= 40:  # a tenth of the book is spread over 3 to 5 lenders
        return rng.randint(3, 5)
    return rng.choices([1, 2], weights=[75, 25])[0]


def _loan(
    rng: random.Random, borrower: str, number: int, seq: int, today: date, as_of: datetime
) -> dict[str, Any]:
    product = rng.choice(["cash_loan", "installment", "bnpl", "credit_line", "cash_loan"])
    opened = today - timedelta(days=rng.randint(3, 400) if number > 40 else rng.randint(1, 60))
    principal = rng.choice([50_000, 100_000, 200_000, 500_000, 1_000_000, 3_000_000])
    roll = rng.random()
    status, days_past_due = "open", 0
    if number != WALKTHROUGH_BORROWER:
        if roll < 0.15:
            status = "closed"
        elif roll < 0.20:
            status, days_past_due = "written_off", rng.randint(120, 360)
        elif roll < 0.35:
            days_past_due = rng.choice([5, 15, 31, 45, 90])
    outstanding = 0 if status == "closed" else principal * rng.randint(20, 100) // 100
    return {
        "loan_ref": f"D{number:04d}-{seq}",
        "borrower": borrower,
        "product": product,
        "currency": "CNY",
        "principal": principal,
        "outstanding": outstanding,
        "opened_on": opened.isoformat(),
        "due_on": None if product == "credit_line" else (opened + timedelta(days=180)).isoformat(),
        "status": status,
        "days_past_due": days_past_due,
        "as_of": as_of.isoformat(),
    }


def seed_demo(session: Session, signer: Signer, now: datetime, seed: int = 2026) -> DemoResult:
    rng = random.Random(seed)
    demo_token = DemoTokens(session, signer, now)
    existing = {lender.code: lender for lender in session.scalars(select(Lender))}
    demo_lenders: list[Lender] = []
    for code, name in DEMO_LENDERS:
        lender = existing.get(code)
        if lender is None:
            # Demo keys are issued below, on every run; the unseen initial key goes at once.
            lender, initial = lenders.create_lender(session, code, name, now)
            lenders.revoke_key(session, lender, initial.prefix, now)
        demo_lenders.append(lender)

    has_loans = session.scalar(
        select(func.count()).select_from(Loan).where(Loan.lender_id == demo_lenders[0].id)
    )
    created = not has_loans
    if created:
        _seed_loans_and_inquiries(session, rng, demo_lenders, demo_token, now)

    keys = []
    for lender in demo_lenders:
        earlier_demo_keys = select(ApiKey).where(
            ApiKey.lender_id == lender.id, ApiKey.label == DEMO_KEY_LABEL
        )
        for key in session.scalars(earlier_demo_keys):
            if key.revoked_at is None:
                key.revoked_at = now
        issued = lenders.issue_key(session, lender, now, label=DEMO_KEY_LABEL)
        keys.append((lender.code, lender.name, issued.secret))
    return DemoResult(
        created,
        keys,
        demo_token(WALKTHROUGH_BORROWER),
        demo_token(2),
        demo_id(WALKTHROUGH_BORROWER),
        demo_id(2),
        DEMO_PEPPER.hex(),
    )


def _reported_at(record: dict[str, Any], at: datetime) -> dict[str, Any]:
    """`record` as reported at `at`: its state as of a minute before, opened by then."""
    as_of = at - timedelta(minutes=1)
    opened = min(date.fromisoformat(record["opened_on"]), as_of.date())
    due = record["due_on"] and (opened + timedelta(days=180)).isoformat()
    return record | {"as_of": as_of.isoformat(), "opened_on": opened.isoformat(), "due_on": due}


def _report_days(code: str) -> list[int]:
    """The days ago (newest first) on which demo lender `code` reports, within the window."""
    cadence, last = REPORTING.get(code, (1, 0))
    return list(range(last, WINDOW_DAYS, cadence))


def _seed_loans_and_inquiries(
    session: Session,
    rng: random.Random,
    demo_lenders: list[Lender],
    demo_token: DemoTokens,
    now: datetime,
) -> None:
    today = now.date()
    as_of = datetime.combine(today, time(0), tzinfo=UTC)
    books: dict[int, list[dict[str, Any]]] = {lender.id: [] for lender in demo_lenders}
    for number in range(1, BORROWERS + 1):
        holders = rng.sample(demo_lenders, _lender_count(rng, number))
        for seq, lender in enumerate(holders):
            books[lender.id].append(_loan(rng, demo_token(number), number, seq, today, as_of))

    # Each loan is first reported on one of its lender's reporting days over the last month
    # (a random stream of its own: the loans and inquiries stay what the README shows).
    spread = random.Random("demo submissions")
    for lender in demo_lenders:
        by_day: dict[int, list[dict[str, Any]]] = {}
        days = _report_days(lender.code)
        for record in books[lender.id]:
            by_day.setdefault(spread.choice(days), []).append(record)
        for days_ago in sorted(by_day, reverse=True):
            at = now - timedelta(days=days_ago, minutes=spread.randint(0, 8 * 60))
            batch = [_reported_at(record, at) for record in by_day[days_ago]]
            for start in range(0, len(batch), reporting.MAX_BATCH):
                reporting.submit_loans(
                    session, lender.id, batch[start : start + reporting.MAX_BATCH], at
                )

    # Application sprees: the most indebted borrowers were asked about by many lenders lately.
    for number in range(2, 41):
        askers = rng.sample(demo_lenders, rng.randint(1, len(demo_lenders)))
        for lender in askers:
            at = now - timedelta(hours=rng.randint(1, 24 * 20))
            request = inquiries.InquiryRequest(
                borrower=demo_token(number),
                purpose=Purpose.NEW_CREDIT,
                consent_ref=f"demo-consent-{number}-{lender.code}",
                amount_requested=rng.choice([100_000, 300_000, 500_000]),
                currency="CNY",
            )
            inquiries.inquire(session, lender.id, request, at)
