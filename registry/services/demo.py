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

from registry.models import ApiKey, KeyState, Lender, Loan, TokenKey
from registry.services import audit, lenders, reporting, tokens
from registry.services.demo_applications import demo_phone, seed_applications
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
# Borrower 41 was 75 days late on a loan some months ago and is current now: the README's
# report with PAST_DUE_HISTORY.
CURED_BORROWER = 41
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
        self._cache: dict[tuple[str, int], str] = {}

    def __call__(self, number: int) -> str:
        return self._token("cn_resident_id", demo_id(number), number)

    def phone(self, number: int) -> str:
        """The token of demo borrower `number`'s phone (kind phone: a secondary identifier)."""
        return self._token("phone", demo_phone(number), number)

    def _token(self, kind: str, value: str, number: int) -> str:
        if (kind, number) not in self._cache:
            inner = inner_token_input(DEMO_PEPPER, kind, normalize_id(kind, value))
            self._cache[kind, number] = self._signer.evaluate(self._key_id, inner)[:32].hex()
        return self._cache[kind, number]


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
    if number in (WALKTHROUGH_BORROWER, CURED_BORROWER):
        return 2
    if number <= 40:  # a tenth of the book is spread over 3 to 5 lenders
        return rng.randint(3, 5)
    return rng.choices([1, 2], weights=[75, 25])[0]


# What happens to a demo loan over its life (see `_plan`).
CURRENT, LATE, CURED, CLOSED, WRITTEN_OFF, REPAID_AFTER_WRITE_OFF = (
    "current",
    "late",
    "cured",
    "closed",
    "written_off",
    "repaid_after_write_off",
)
HISTORY_MONTHS = 12  # monthly reports go back at most this many months
HISTORY_DAY = 28  # each month's report is on the 28th (every month has one)


@dataclass
class _Plan:
    """A demo loan: its terms, its story, and the days on which it is reported."""

    loan_ref: str
    borrower: str
    product: str
    principal: int
    opened: date
    term_days: int
    story: str
    limit: int | None = None  # credit lines
    usage: float = 0.0  # credit lines: the share of the limit drawn
    peak: int = 0  # the worst days past due of a LATE, CURED or written-off story
    fixed_share: float | None = None  # outstanding as this share of principal, whatever the day
    points: list[datetime] | None = None  # report times, oldest first (the last is the latest)
    phone_token: str | None = None  # the phone the borrower gave (kind phone), if any

    @property
    def due(self) -> date | None:
        return None if self.product == "credit_line" else self.opened + timedelta(self.term_days)

    def schedule(self) -> tuple[int, str]:
        """The scheduled payment and its frequency."""
        if self.product == "credit_line":
            assert self.limit is not None
            return max(1_000, int(self.limit * self.usage) // 10), "monthly"
        if self.product == "bnpl":
            return self.principal // 4, "biweekly"
        return max(1, self.principal // max(1, self.term_days // 30)), "monthly"

    def days_past_due(self, i: int) -> int:
        """Days past due at report `i` (the story's delinquency, worst at `peak`)."""
        n = len(self.points or [])
        if self.story == LATE:  # late now: its lateness built up over the last reports
            return max(0, self.peak - 30 * (n - 1 - i))
        if self.story == CURED:  # late some months ago, current since the last 2+ reports
            top = n - 3
            return max(0, self.peak - 30 * (top - i)) if i <= top else 0
        if self.story in (WRITTEN_OFF, REPAID_AFTER_WRITE_OFF):
            return 30 * (i - (n - 6)) if i > n - 6 else 0
        return 0

    def record(self, i: int) -> dict[str, Any]:
        """The state reported at report `i`."""
        assert self.points is not None
        at = self.points[i]
        as_of = at - timedelta(minutes=1)
        n = len(self.points)
        elapsed = max(0, (as_of.date() - self.opened).days)
        scheduled, frequency = self.schedule()
        dpd = self.days_past_due(i)
        status, closed_on, event = "open", None, None
        if self.product == "credit_line":
            assert self.limit is not None
            outstanding = max(1, int(self.limit * self.usage))
        else:
            # Repaid evenly over the term; nothing repaid while late.
            paid_days = max(0, elapsed - dpd)
            left = 1 - min(paid_days, self.term_days - 30) / self.term_days
            if self.fixed_share is not None:
                left = self.fixed_share
            outstanding = max(1, int(self.principal * left))
        if self.story in (WRITTEN_OFF, REPAID_AFTER_WRITE_OFF) and i >= n - 3:
            status = "written_off"
            closed_on = self.points[n - 3].date() - timedelta(days=1)
        if self.story == REPAID_AFTER_WRITE_OFF and i == n - 1:
            status, dpd, outstanding = "closed", 0, 0
            closed_on, event = as_of.date() - timedelta(days=2), "repaid_after_write_off"
        if self.story == CLOSED and i == n - 1:
            status, dpd, outstanding = "closed", 0, 0
            closed_on = max(self.opened, as_of.date() - timedelta(days=3))
        past_due = 0
        if dpd > 0:
            past_due = min(outstanding, max(1, scheduled * -(-dpd // 30)))
        if status == "written_off":
            past_due = outstanding
        record: dict[str, Any] = {
            "loan_ref": self.loan_ref,
            "borrower": self.borrower,
            "product": self.product,
            "currency": "CNY",
            "principal": self.principal,
            "outstanding": outstanding,
            "opened_on": self.opened.isoformat(),
            "due_on": self.due.isoformat() if self.due else None,
            "status": status,
            "days_past_due": dpd,
            "as_of": as_of.isoformat(),
            "scheduled_payment": scheduled,
            "payment_frequency": frequency,
            "amount_past_due": past_due,
        }
        if self.limit is not None:
            record["credit_limit"] = self.limit
        if closed_on is not None:
            record["closed_on"] = closed_on.isoformat()
        if event is not None:
            record["special_event"] = event
        if self.phone_token is not None:
            record["phone_token"] = self.phone_token
        return record


def _story(rng: random.Random, number: int, months: int) -> tuple[str, int]:
    """A loan's story and its worst days past due, given how many monthly reports it has."""
    if number in (WALKTHROUGH_BORROWER, CURED_BORROWER):
        return CURRENT, 0
    roll = rng.random()
    if roll < 0.12 and months >= 1 and number > 40:  # 2 to 40 keep their loans open
        return CLOSED, 0
    if roll < 0.16 and months >= 6:
        return WRITTEN_OFF, 0
    if roll < 0.19 and months >= 6:
        return REPAID_AFTER_WRITE_OFF, 0
    if roll < 0.27 and months >= 4:
        return CURED, rng.choice([25, 45, 75, 95])
    if roll < 0.40:
        return LATE, rng.choice([5, 15, 31, 45, 90])
    return CURRENT, 0


def _plan(
    rng: random.Random, borrower: str, number: int, seq: int, today: date, final_at: datetime
) -> _Plan:
    product = rng.choice(["cash_loan", "installment", "bnpl", "credit_line", "cash_loan"])
    opened = today - timedelta(days=rng.randint(3, 400) if number > 40 else rng.randint(1, 60))
    principal = rng.choice([50_000, 100_000, 200_000, 500_000, 1_000_000, 3_000_000])
    if number == WALKTHROUGH_BORROWER:  # the README's applicant: two plain loans, well behaved
        product = ("cash_loan", "installment")[seq % 2]
        opened = today - timedelta(days=(75, 160)[seq % 2])
    opened = min(opened, (final_at - timedelta(days=1)).date())
    points = _points(opened, final_at)
    story, peak = _story(rng, number, len(points) - 1)
    # The term: long enough that a loan reported current is not yet past its due date.
    term = 90 if product == "bnpl" else 180
    while opened + timedelta(term) < today + timedelta(30):
        term += 180
    plan = _Plan(f"D{number:04d}-{seq}", borrower, product, principal, opened, term, story)
    plan.peak, plan.points = peak, points
    if number == WALKTHROUGH_BORROWER:  # the README's figures do not move with the day
        plan.fixed_share = (0.65, 0.8)[seq % 2]
    if product == "credit_line":
        plan.limit = principal * rng.choice([2, 3, 5])
        # Lines in use: most lightly, some close to their limit (HIGH_UTILISATION).
        plan.usage = rng.choice([0.05, 0.12, 0.25, 0.4, 0.6, 0.92, 0.97])
        if number == WALKTHROUGH_BORROWER:
            plan.usage = 0.25
    return plan


def _points(opened: date, final_at: datetime) -> list[datetime]:
    """The monthly reports of a loan opened on `opened` (the 28th of each month since, at most
    HISTORY_MONTHS back, each well before the last), then its last report, at `final_at`."""
    points: list[datetime] = []
    month = date(final_at.year, final_at.month, 1)
    for back in range(HISTORY_MONTHS, -1, -1):
        index = month.year * 12 + month.month - 1 - back
        day = date(index // 12, index % 12 + 1, HISTORY_DAY)
        at = datetime.combine(day, time(12), tzinfo=UTC)
        if day > opened and at < final_at - timedelta(days=3):
            points.append(at)
    return [*points, final_at]


def _cured_plans(borrower: str, lenders: list[Lender], today: date) -> list[tuple[int, _Plan]]:
    """The README's second applicant: a cash loan 75 days late some months ago, current
    since (PAST_DUE_HISTORY), and a repaid BNPL loan at another lender."""
    final_at = datetime.combine(today - timedelta(days=2), time(9), tzinfo=UTC)
    cash = _Plan(
        f"D{CURED_BORROWER:04d}-0",
        borrower,
        "cash_loan",
        1_000_000,
        today - timedelta(days=330),
        720,
        CURED,
        peak=75,
    )
    cash.points = _points(cash.opened, final_at)
    bnpl = _Plan(
        f"D{CURED_BORROWER:04d}-1",
        borrower,
        "bnpl",
        200_000,
        today - timedelta(days=240),
        120,
        CLOSED,
    )
    bnpl.points = [p for p in _points(bnpl.opened, final_at) if p.date() < today - timedelta(120)]
    return [(lenders[2].id, cash), (lenders[3].id, bnpl)]


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
        # Give to get: the demo's uploads age while its database is kept; each run exempts
        # its lenders for a month, so that the printed commands keep working.
        lender.reciprocity_exempt_until = now + timedelta(days=30)
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
    # Each loan's latest report is on one of its lender's reporting days over the last month
    # (a random stream of its own), after monthly reports on the 28th of the months before;
    # a few loans' lenders stopped reporting them two months ago (stale).
    spread = random.Random("demo submissions")
    report_times: dict[tuple[int, int], datetime] = {}
    plans: list[tuple[int, _Plan]] = []
    for number in range(1, BORROWERS + 1):
        holders = rng.sample(demo_lenders, _lender_count(rng, number))
        if number == CURED_BORROWER:
            plans.extend(_cured_plans(demo_token(number), demo_lenders, today))
            continue
        for seq, lender in enumerate(holders):
            days_ago = spread.choice(_report_days(lender.code))
            if (lender.id, days_ago) not in report_times:
                at = now - timedelta(days=days_ago, minutes=spread.randint(0, 8 * 60))
                report_times[lender.id, days_ago] = at
            final_at = report_times[lender.id, days_ago]
            plan = _plan(rng, demo_token(number), number, seq, today, final_at)
            if number != WALKTHROUGH_BORROWER:  # the README's applicant gave no phone
                plan.phone_token = demo_token.phone(number)
            assert plan.points is not None
            if (
                number > 40
                and plan.story == CURRENT
                and len(plan.points) > 3
                and rng.random() < 0.04
            ):
                plan.points = plan.points[:-2]
            plans.append((lender.id, plan))

    reports: dict[tuple[datetime, int], list[dict[str, Any]]] = {}
    for lender_id, plan in plans:
        for i, at in enumerate(plan.points or []):
            reports.setdefault((at, lender_id), []).append(plan.record(i))
    for at, lender_id in sorted(reports):  # oldest first: each loan's reports in order
        batch = reports[at, lender_id]
        for start in range(0, len(batch), reporting.MAX_BATCH):
            reporting.submit_loans(
                session, lender_id, batch[start : start + reporting.MAX_BATCH], at
            )

    # Application sprees: the most indebted borrowers were asked about by many lenders lately;
    # most of those applications have an outcome since.
    held = {
        (lender_id, plan.borrower): (plan.loan_ref, plan.principal) for lender_id, plan in plans
    }
    seed_applications(session, rng, demo_lenders, demo_token, demo_token.phone, held, now)
