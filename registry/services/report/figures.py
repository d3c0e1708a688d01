"""The summary's figures, from the report's tradelines (the retained loans) and a clock.

Definitions (`today` is the inquiry's UTC date, "this month" its calendar month):
- the current figures (`open_loans`, `outstanding`, `max_days_past_due`, ...) are as they
  always were: open loans, stale or not;
- `worst_days_past_due_12m` / `_24m`: the worst `days_past_due` stored for any month of any
  retained loan among the 12 / 24 calendar months ending with this month, whatever the loan's
  status now; `last_delinquent_on`: the latest date any retained loan was reported past due;
- `written_off_loans` / `written_off_amount`: retained loans ever written off (a later
  repayment or closure included), the amount as first written off, per currency;
- `amount_past_due`, `monthly_obligations`: per currency of the open loans (every currency
  with an open loan has a key, possibly 0). A scheduled payment is normalised to a month
  exactly (weekly x 52/12, biweekly x 26/12, monthly x 1; a `single` payment counts in full,
  once: it falls due within the term, typically within a month here) and the total per
  currency is rounded once, half up, to a minor unit. A payment without a frequency counts as
  monthly;
- `credit_limit`, `utilisation`: open revolving lines (`REVOLVING_PRODUCTS`) per currency;
  utilisation is their outstanding over their limit, to 4 decimals (half up), left out for a
  currency whose lines' limits total 0;
- `outstanding_with_request`: `outstanding` plus the amount requested in its currency, when
  the inquiry names one (else null);
- `lenders_opened_{30,90,180}d`: distinct lenders of loans opened on or after today - N days;
  `loans_closed_90d`: loans `closed` (not written off) on or after today - 90 days;
- `stale_open_loans`: open loans that are stale;
- `provisional_loans`, `provisional_amount`: the provisional tradelines (other lenders'
  approved applications not yet reported) and their amounts per currency. They count in no
  other figure; the flags count their lenders towards MULTI_LENDER (as lenders with a balance)
  and RAPID_BORROWING (as lenders that opened a loan, when approved in the last 30 days) when
  the policy's `count_provisional_loans` is 1. `pending_applications`, `pending_amount`,
  `other_lenders_inquiring` and the identity figures come from their own reads
  (`report.applications`, `report.identity`).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from fractions import Fraction

from registry.services.report.tradelines import PROVISIONAL, Tradeline
from registry_protocol.payment_status import add_months, month_of
from registry_protocol.wire import REVOLVING_PRODUCTS

OPENED_WINDOWS = (30, 90, 180)
RECENT_OPENING_DAYS = 30
CLOSED_WINDOW_DAYS = 90
CYCLING_WINDOW_DAYS = 90
CYCLING_GAP_DAYS = 7
MONTHLY_FACTOR: dict[str | None, Fraction] = {
    "weekly": Fraction(52, 12),
    "biweekly": Fraction(26, 12),
    "monthly": Fraction(1),
    "single": Fraction(1),
    None: Fraction(1),
}


@dataclass
class Summary:
    open_loans: int = 0
    lenders_with_open_loans: int = 0
    other_lenders_with_open_loans: int = 0
    outstanding: dict[str, int] = field(default_factory=dict)
    max_days_past_due: int = 0
    past_due_loans: int = 0
    written_off_loans: int = 0
    loans_opened_last_30d: int = 0
    other_lenders_inquiring: dict[str, int] = field(default_factory=dict)
    worst_days_past_due_12m: int = 0
    worst_days_past_due_24m: int = 0
    last_delinquent_on: date | None = None
    written_off_amount: dict[str, int] = field(default_factory=dict)
    amount_past_due: dict[str, int] = field(default_factory=dict)
    monthly_obligations: dict[str, int] = field(default_factory=dict)
    credit_limit: dict[str, int] = field(default_factory=dict)
    utilisation: dict[str, str] = field(default_factory=dict)
    outstanding_with_request: dict[str, int] | None = None
    lenders_opened_30d: int = 0
    lenders_opened_90d: int = 0
    lenders_opened_180d: int = 0
    loans_closed_90d: int = 0
    stale_open_loans: int = 0
    # Applications elsewhere (other lenders only): new_credit inquiries in the last 7 days
    # without an outcome, and approved ones not yet reported (provisional loans).
    pending_applications: int = 0
    pending_amount: dict[str, int] = field(default_factory=dict)
    provisional_loans: int = 0
    provisional_amount: dict[str, int] = field(default_factory=dict)
    disputed_tradelines: int = 0
    # Identity (phone tokens are never shown, only these counts).
    phones_90d: int = 0
    max_borrowers_per_phone: int = 0
    tradelines: list[Tradeline] = field(default_factory=list)
    # Not reported as such; what the flags measure.
    max_days_past_due_elsewhere: int = 0
    written_off_since_closed: int = 0  # written-off loans later closed (repaid)
    cycling_loans: int = 0
    peak_utilisation: tuple[str, int, int] | None = None  # (currency, outstanding, limit)
    # Lenders, as sets so that the flags can add the provisional loans' lenders to them:
    balance_lenders: set[int] = field(default_factory=set)  # open loans, something outstanding
    fresh_balance_lenders: set[int] = field(default_factory=set)  # the same, fresh loans only
    opened_30d_lenders: set[int] = field(default_factory=set)
    fresh_opened_30d_lenders: set[int] = field(default_factory=set)
    provisional_lenders: set[int] = field(default_factory=set)
    provisional_lenders_30d: set[int] = field(default_factory=set)  # approved in 30 days
    # The borrower's statement, shown with the report (`report.obligations`).
    statement: str | None = None
    # What the flags measure when some tradelines count towards no flag (an overdue dispute):
    # this summary with the tradelines' figures computed without them; None when all count.
    flag_basis: Summary | None = None


@dataclass
class OwnPart:
    open_loans: int = 0
    outstanding: dict[str, int] = field(default_factory=dict)
    # Not reported as such: whether the caller holds any loan (of any status) with them.
    holds_loans: bool = False


def round_half_up(value: Fraction) -> int:
    return int((value + Fraction(1, 2)).__floor__())


def ratio_text(numerator: int, denominator: int, places: int = 4) -> str:
    """numerator / denominator as a decimal string with `places` decimals, half up."""
    scale = 10**places
    scaled = round_half_up(Fraction(numerator * scale, denominator))
    return f"{scaled // scale}.{scaled % scale:0{places}d}"


def written_off(line: Tradeline) -> bool:
    return line.status == "written_off" or line.loan.written_off_on is not None


def cycling_loans(lines: list[Tradeline], today: date) -> int:
    """Loans closed in the last 90 days within 7 days (0 to 7) after a loan was opened at a
    different lender."""
    since = today - timedelta(days=CYCLING_WINDOW_DAYS)
    count = 0
    for line in lines:
        closed_on = line.loan.closed_on
        if line.status != "closed" or closed_on is None or not since <= closed_on <= today:
            continue
        count += any(
            other.lender_id != line.lender_id
            and timedelta(0) <= closed_on - other.loan.opened_on <= timedelta(CYCLING_GAP_DAYS)
            for other in lines
        )
    return count


def compute(
    lines: list[Tradeline],
    caller_id: int,
    now: datetime,
    requested: tuple[int, str] | None = None,
) -> tuple[Summary, OwnPart]:
    """Every figure of the summary drawn from the tradelines (see the module's docstring)."""
    today = now.date()
    summary, own = Summary(tradelines=lines), OwnPart()
    provisional = [line for line in lines if line.status == PROVISIONAL]
    lines = [line for line in lines if line.status != PROVISIONAL]
    provisional_amount: dict[str, int] = defaultdict(int)
    for line in provisional:
        summary.provisional_loans += 1
        provisional_amount[line.currency] += line.outstanding
        summary.provisional_lenders.add(line.lender_id)
        if line.loan.opened_on >= today - timedelta(days=RECENT_OPENING_DAYS):
            summary.provisional_lenders_30d.add(line.lender_id)
    summary.provisional_amount = dict(sorted(provisional_amount.items()))
    this_month = month_of(today)
    from_12m, from_24m = add_months(this_month, -11), add_months(this_month, -23)
    open_lenders: set[int] = set()
    balances: set[int] = set()
    fresh_balances: set[int] = set()
    opened: dict[int, set[int]] = {days: set() for days in OPENED_WINDOWS}
    fresh_opened_30d: set[int] = set()
    outstanding: dict[str, int] = defaultdict(int)
    own_outstanding: dict[str, int] = defaultdict(int)
    past_due: dict[str, int] = defaultdict(int)
    obligations: dict[str, Fraction] = defaultdict(Fraction)
    limits: dict[str, int] = defaultdict(int)
    drawn: dict[str, int] = defaultdict(int)
    written_off_amount: dict[str, int] = defaultdict(int)
    for line in lines:
        loan = line.loan
        for days in OPENED_WINDOWS:
            if loan.opened_on >= today - timedelta(days=days):
                opened[days].add(line.lender_id)
        if loan.opened_on >= today - timedelta(days=RECENT_OPENING_DAYS):
            summary.loans_opened_last_30d += 1
            if not line.stale:
                fresh_opened_30d.add(line.lender_id)
        if (
            line.status == "closed"
            and loan.closed_on is not None
            and today - timedelta(days=CLOSED_WINDOW_DAYS) <= loan.closed_on <= today
        ):
            summary.loans_closed_90d += 1
        for month, stored in loan.months.items():
            if from_24m <= month <= this_month:
                summary.worst_days_past_due_24m = max(
                    summary.worst_days_past_due_24m, stored.worst_days_past_due
                )
                if month >= from_12m:
                    summary.worst_days_past_due_12m = max(
                        summary.worst_days_past_due_12m, stored.worst_days_past_due
                    )
            if stored.last_delinquent_on is not None and (
                summary.last_delinquent_on is None
                or stored.last_delinquent_on > summary.last_delinquent_on
            ):
                summary.last_delinquent_on = stored.last_delinquent_on
        if written_off(line):
            summary.written_off_loans += 1
            summary.written_off_since_closed += line.status == "closed"
            amount = loan.written_off_amount
            written_off_amount[line.currency] += amount if amount is not None else line.outstanding
        if line.status != "open":
            continue
        summary.open_loans += 1
        summary.stale_open_loans += line.stale
        open_lenders.add(line.lender_id)
        outstanding[line.currency] += line.outstanding
        past_due[line.currency] += line.amount_past_due
        obligations[line.currency] += (loan.scheduled_payment or 0) * MONTHLY_FACTOR.get(
            loan.payment_frequency, Fraction(1)
        )
        if line.outstanding > 0:
            balances.add(line.lender_id)
            if not line.stale:
                fresh_balances.add(line.lender_id)
        if line.product in REVOLVING_PRODUCTS:
            limits[line.currency] += line.credit_limit
            drawn[line.currency] += line.outstanding
        summary.max_days_past_due = max(summary.max_days_past_due, line.days_past_due)
        summary.past_due_loans += line.days_past_due > 0
        if line.lender_id == caller_id:
            own.open_loans += 1
            own_outstanding[line.currency] += line.outstanding
        else:
            summary.max_days_past_due_elsewhere = max(
                summary.max_days_past_due_elsewhere, line.days_past_due
            )
    summary.lenders_with_open_loans = len(open_lenders)
    summary.other_lenders_with_open_loans = len(open_lenders - {caller_id})
    summary.outstanding = dict(sorted(outstanding.items()))
    own.outstanding = dict(sorted(own_outstanding.items()))
    summary.amount_past_due = dict(sorted(past_due.items()))
    summary.monthly_obligations = {
        currency: round_half_up(total) for currency, total in sorted(obligations.items())
    }
    summary.credit_limit = dict(sorted(limits.items()))
    summary.utilisation = {
        currency: ratio_text(drawn[currency], limit)
        for currency, limit in sorted(limits.items())
        if limit > 0
    }
    peaks = [(c, drawn[c], limit) for c, limit in sorted(limits.items()) if limit > 0]
    if peaks:
        summary.peak_utilisation = max(peaks, key=lambda p: Fraction(p[1], p[2]))
    summary.written_off_amount = dict(sorted(written_off_amount.items()))
    if requested is not None:
        amount, currency = requested
        with_request = dict(outstanding)
        with_request[currency] = with_request.get(currency, 0) + amount
        summary.outstanding_with_request = dict(sorted(with_request.items()))
    summary.lenders_opened_30d = len(opened[30])
    summary.lenders_opened_90d = len(opened[90])
    summary.lenders_opened_180d = len(opened[180])
    summary.balance_lenders, summary.fresh_balance_lenders = balances, fresh_balances
    summary.opened_30d_lenders, summary.fresh_opened_30d_lenders = opened[30], fresh_opened_30d
    summary.cycling_loans = cycling_loans(lines, today)
    return summary, own
