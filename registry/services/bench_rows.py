"""The rows of `registry bench-data` as COPY text, generated in chunks of borrowers.

Plain `random.Random` and string joins: one loan costs a few microseconds of Python, so ten
million loans with their references, history and months take about a minute of one core,
while the PostgreSQL backends parse what was sent on the other. Dates and timestamps are
looked up in tables built once (`Calendar`), never formatted per row.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

BORROWER_PREFIX = "bench-borrower-"
# (upper bound of a uniform draw, fewest loans, most loans): the skew of loans per borrower.
LOANS_PER_BORROWER = (
    (0.62, 1, 1),
    (0.86, 2, 2),
    (0.92, 3, 3),
    (0.95, 4, 4),
    (0.985, 5, 9),
    (1.0, 10, 30),
)
MOST_LOANS = 30
MEAN_LOANS_PER_BORROWER = 0.62 + 0.24 * 2 + 0.06 * 3 + 0.03 * 4 + 0.035 * 7 + 0.015 * 20
PRODUCTS = (("cash_loan", 30), ("installment", 25), ("credit_line", 15), ("bnpl", 20),
            ("auto", 5), ("mortgage", 3), ("other", 2))  # fmt: skip
_PRODUCT_SLOTS = tuple(name for name, weight in PRODUCTS for _ in range(weight))
_FUTURE_DAYS = 4_000  # due dates up to this far ahead
_PAST_DAYS = 4_000
_NULL = "\\N"

# Column lists of the COPY statements, in the order the lines below are written. The
# state (product ... closed_on) is shared by a loan and its history rows.
STATE_COLUMNS = (
    "product, currency, principal, outstanding, opened_on, due_on, status, days_past_due, "
    "credit_limit, scheduled_payment, payment_frequency, amount_past_due, closed_on"
)
COPY_COLUMNS = {
    "loans": "borrower, lender_id, loan_ref, as_of, first_reported_at, last_reported_at, "
    f"last_submission_id, {STATE_COLUMNS}, written_off_amount, written_off_on",
    "loan_refs": "lender_id, loan_ref, borrower, created_at",
    "loan_history": "borrower, lender_id, loan_ref, as_of, submission_id, recorded_at, "
    + STATE_COLUMNS,
    "loan_months": "borrower, lender_id, loan_ref, month, status, worst_days_past_due, "
    "last_delinquent_on",
    "inquiries": "borrower, id, lender_id, purpose, consent_ref, flags, created_at, report",
}


def borrower_token(number: int) -> bytes:
    return hashlib.sha256(f"{BORROWER_PREFIX}{number}".encode()).digest()


def _loans_for(draw: float) -> tuple[int, int]:
    for bound, fewest, most in LOANS_PER_BORROWER:
        if draw < bound:
            return fewest, most
    return LOANS_PER_BORROWER[-1][1], LOANS_PER_BORROWER[-1][2]


def _copy_bytea(number: int) -> str:
    # bytea in COPY text: \x then hex, the backslash itself escaped.
    return "\\\\x" + borrower_token(number).hex()


class Calendar:
    """Dates, months and timestamps as COPY text, by days before today (negative: ahead)."""

    def __init__(self, now: datetime) -> None:
        today = now.date()
        days = [today - timedelta(days=n - _FUTURE_DAYS) for n in range(_PAST_DAYS + _FUTURE_DAYS)]
        self.day_text = [d.isoformat() for d in days]
        self.month_index = [d.year * 12 + d.month - 1 for d in days]
        first, last = min(self.month_index), max(self.month_index)
        self.month_first: dict[int, str] = {}
        self.month_last: dict[int, str] = {}
        for index in range(first - 1, last + 2):
            start = datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC).date()
            following = datetime((index + 1) // 12, (index + 1) % 12 + 1, 1, tzinfo=UTC).date()
            self.month_first[index] = start.isoformat()
            self.month_last[index] = (following - timedelta(days=1)).isoformat()
        self.times = [f" {h:02d}:{m:02d}:00+00" for h in range(24) for m in (0, 15, 30, 45)]

    def date(self, days_ago: int) -> str:
        return self.day_text[days_ago + _FUTURE_DAYS]

    def month(self, days_ago: int) -> int:
        return self.month_index[days_ago + _FUTURE_DAYS]


@dataclass
class Chunk:
    """COPY text per table, and what it holds."""

    text: dict[str, list[str]] = field(default_factory=lambda: {t: [] for t in COPY_COLUMNS})
    borrowers: int = 0
    loans: int = 0


@dataclass
class Tally:
    loans_by_borrower_count: Counter[int] = field(default_factory=Counter)
    status_counts: Counter[str] = field(default_factory=Counter)
    history: int = 0
    months: int = 0


class BookRows:
    """Borrowers 1, 2, ... with their loans; inquiries about them."""

    def __init__(
        self,
        rng: random.Random,
        now: datetime,
        lender_ids: list[int],
        submission_ids: dict[int, str],
        months: int,
    ) -> None:
        self.rng, self.r = rng, rng.random
        self.calendar = Calendar(now)
        self.lender_ids, self.submission_ids, self.months = lender_ids, submission_ids, months
        self.tally = Tally()
        self.counts: list[int] = []
        self.order: list[int] = []
        self.position = 0
        self.origin = now.timestamp()
        self.build_id = rng.getrandbits(32)
        self.next_inquiry = 0
        self.minutes: list[str] = []

    def plan(self, loans: int) -> int:
        """Draw every borrower's number of loans (summing to `loans`), and the order to write
        them in: by token, the leading column of every per-borrower key, so that the keys
        are rebuilt from presorted rows. Returns the number of borrowers."""
        r, rng = self.r, self.rng
        counts: list[int] = []
        made = 0
        while made < loans:
            fewest, most = _loans_for(r())
            count = min(fewest if fewest == most else rng.randint(fewest, most), loans - made)
            counts.append(count)
            made += count
        self.counts = counts
        self.order = sorted(range(1, len(counts) + 1), key=borrower_token)
        self.position = 0
        return len(counts)

    def loans(self, chunk: Chunk, borrowers: int) -> None:
        """The next `borrowers` borrowers of the plan (fewer at its end)."""
        rng = self.rng
        numbers = self.order[self.position : self.position + borrowers]
        self.position += len(numbers)
        for number in numbers:
            count = self.counts[number - 1]
            self.tally.loans_by_borrower_count[count] += 1
            token = _copy_bytea(number)
            for j, lender_id in enumerate(rng.sample(self.lender_ids, count)):
                self._loan(chunk, token, lender_id, f"B{number}-{j}")
            chunk.borrowers += 1
            chunk.loans += count

    @property
    def planned(self) -> bool:
        return self.position < len(self.order)

    def _loan(self, chunk: Chunk, token: str, lender_id: int, loan_ref: str) -> None:
        r, calendar = self.r, self.calendar
        product = _PRODUCT_SLOTS[int(r() * len(_PRODUCT_SLOTS))]
        principal = int(10 ** (5 + 3 * r()))  # log-uniform, 1,000.00 to 1,000,000.00
        as_of_days = 1 + int(r() * 20) if r() < 0.95 else 40 + int(r() * 160)  # a few stale
        opened_days = as_of_days + 30 + int(r() * 1500)
        draw = r()
        if draw < 0.72:
            status = "open"
            dpd_draw = r()
            if dpd_draw < 0.85:
                dpd = 0
            else:
                dpd = 1 + int(r() * 30) if dpd_draw < 0.95 else 31 + int(r() * 150)
            outstanding = max(1, int(principal * (0.05 + 0.95 * r())))
            past_due = max(1, outstanding * min(dpd, 180) // 180) if dpd else 0
            closed_on = _NULL
            # An open loan falls due after its report (else it would be overdue yet current).
            term = opened_days - as_of_days + 30 + int(r() * 720)
        else:
            status = "closed" if draw < 0.93 else "written_off"
            dpd = 0 if status == "closed" else 90 + int(r() * 630)
            outstanding = past_due = 0 if status == "closed" else max(1, int(principal * r()))
            closed_on = calendar.date(min(opened_days, as_of_days + int(r() * 60)))
            term = 30 + int(r() * 1770)
        due_on = scheduled = frequency = _NULL
        if product != "credit_line" or r() < 0.5:
            due_on = calendar.date(opened_days - term)
            if product != "credit_line":
                scheduled, frequency = str(max(1, principal // max(1, term // 30))), "monthly"
        moment = calendar.times[int(r() * 96)]
        as_of = calendar.date(as_of_days) + moment
        first_reported = calendar.date(opened_days - 1) + " 09:00:00+00"
        submission = self.submission_ids[lender_id]
        key = f"{token}\t{lender_id}\t{loan_ref}\t"
        currency = "CNY" if r() < 0.97 else "USD"
        opened_on = calendar.date(opened_days)
        state = (
            f"{product}\t{currency}\t{principal}\t{outstanding}\t{opened_on}\t{due_on}\t"
            f"{status}\t{dpd}\t{principal}\t{scheduled}\t{frequency}\t{past_due}\t{closed_on}"
        )
        written_off = status == "written_off"
        text = chunk.text
        text["loans"].append(
            f"{key}{as_of}\t{first_reported}\t{as_of}\t{submission}\t{state}\t"
            f"{outstanding if written_off else _NULL}\t{closed_on if written_off else _NULL}\n"
        )
        text["loan_refs"].append(f"{lender_id}\t{loan_ref}\t{token}\t{first_reported}\n")
        history = text["loan_history"]
        history.append(f"{key}{as_of}\t{submission}\t{as_of}\t{state}\n")
        self.tally.history += 1
        self.tally.status_counts[status] += 1
        if dpd > 30 and as_of_days + 30 < opened_days:  # the month before, delinquent too
            earlier = calendar.date(as_of_days + 30) + moment
            owed = max(1, outstanding)
            history.append(
                f"{key}{earlier}\t{submission}\t{earlier}\t{product}\t{currency}\t{principal}\t"
                f"{owed}\t{opened_on}\t{due_on}\topen\t{dpd - 30}\t{principal}\t{scheduled}\t"
                f"{frequency}\t{max(1, min(owed, past_due))}\t{_NULL}\n"
            )
            self.tally.history += 1
        self._months(text["loan_months"], key, status, dpd, as_of_days, opened_days)

    def _months(
        self, out: list[str], key: str, status: str, dpd: int, as_of_days: int, opened_days: int
    ) -> None:
        """Up to `months` months back from the report's, none before the loan opened: `k`
        months back the loan was max(0, dpd - 30 k) days past due; the report's own month
        shows C or W for a closed or written-off loan."""
        calendar = self.calendar
        report_month = calendar.month(as_of_days)
        count = min(self.months, report_month - calendar.month(opened_days) + 1)
        for k in range(count):
            month = report_month - k
            late = dpd - 30 * k
            if k == 0 and status != "open":
                mark = "W" if status == "written_off" else "C"
            else:
                mark = "0" if late <= 0 else str(min(7, (late + 29) // 30))
            if late <= 0:
                out.append(f"{key}{calendar.month_first[month]}\t{mark}\t0\t{_NULL}\n")
            else:
                last = calendar.date(as_of_days) if k == 0 else calendar.month_last[month]
                out.append(f"{key}{calendar.month_first[month]}\t{mark}\t{late}\t{last}\n")
        self.tally.months += count

    def inquiries(self, chunk: Chunk, count: int, borrowers: int) -> None:
        """Over the last 120 days about borrower 1 + floor(u^2 * borrowers), so that a few are
        asked about often; 90 % new_credit; UUID-shaped ids distinct within the build."""
        r, lender_ids = self.r, self.lender_ids
        out = chunk.text["inquiries"]
        if not self.minutes:  # every minute of the last 120 days, as COPY text
            origin = self.origin - self.origin % 60
            self.minutes = [
                datetime.fromtimestamp(origin - 60 * n, UTC).isoformat() for n in range(172_800)
            ]
        minutes = self.minutes
        for i in range(self.next_inquiry, self.next_inquiry + count):
            u = r()
            token = _copy_bytea(1 + int(u * u * borrowers))
            at = minutes[int(r() * 172_800)]
            purpose = "new_credit" if r() < 0.9 else "account_review"
            out.append(
                f"{token}\t{self.build_id:08x}-0000-4000-8000-{i:012x}\t"
                f"{lender_ids[int(r() * len(lender_ids))]}\t{purpose}\tseed-{i}\t[]\t{at}\t{{}}\n"
            )
        self.next_inquiry += count
