"""The policy's flags: each compares one measured figure with its threshold, and its detail
says what was counted. Stale loans never hide negative information (past due, write-offs,
cycling, utilisation count every retained loan); they count towards MULTI_LENDER and
RAPID_BORROWING only when the policy's `count_stale_loans` is 1. Other lenders' provisional
loans count towards the same two (as a lender with a balance; as a lender that opened a loan
in 30 days, when approved within them) when `count_provisional_loans` is 1: a lender with both
a loan and a provisional loan counts once."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from registry.services.policy import RULE_CODES, Policy
from registry.services.report.figures import Summary, ratio_text


@dataclass(frozen=True)
class Flag:
    code: str
    detail: str


def _measures(summary: Summary, policy: Policy) -> dict[str, tuple[int | Fraction, str]]:
    """Each flag's measured value, and the detail's words for it."""
    stale = "stale loans included" if policy.count_stale_loans else "stale loans not counted"
    with_balances = (
        summary.balance_lenders if policy.count_stale_loans else summary.fresh_balance_lenders
    )
    opened = (
        summary.opened_30d_lenders if policy.count_stale_loans else summary.fresh_opened_30d_lenders
    )
    if policy.count_provisional_loans:
        stale += ", provisional loans included"
        with_balances = with_balances | summary.provisional_lenders
        opened = opened | summary.provisional_lenders_30d
    else:
        stale += ", provisional loans not counted"
    lenders, rapid = len(with_balances), len(opened)
    repaid = summary.written_off_since_closed
    peak = summary.peak_utilisation
    if peak is None:
        utilisation: tuple[int | Fraction, str] = (0, "no revolving line")
    else:
        currency, drawn, limit = peak
        percent = ratio_text(drawn * 100, limit, 2)
        utilisation = (
            Fraction(drawn * 100, limit),
            f"revolving lines in {currency} are {percent}% drawn "
            f"({drawn} of {limit} in minor units)",
        )
    return {
        "MULTI_LENDER": (
            lenders,
            f"{lenders} lenders have open loans with something outstanding "
            f"(undrawn lines not counted; {stale})",
        ),
        "APPLICATION_SPREE": (
            summary.other_lenders_inquiring.get("7d", 0),
            f"{summary.other_lenders_inquiring.get('7d', 0)} other lenders made credit "
            "inquiries in the last 7 days",
        ),
        "PAST_DUE_ELSEWHERE": (
            summary.max_days_past_due_elsewhere,
            f"an open loan at another lender is {summary.max_days_past_due_elsewhere} days "
            "past due",
        ),
        "WRITTEN_OFF": (
            summary.written_off_loans,
            f"{summary.written_off_loans} written-off loan(s) within retention, later repaid "
            f"ones included ({repaid} repaid or closed after the write-off)",
        ),
        "RAPID_BORROWING": (
            rapid,
            f"{rapid} distinct lenders opened loans in the last 30 days ({stale})",
        ),
        "LOAN_CYCLING": (
            summary.cycling_loans,
            f"{summary.cycling_loans} loan(s) closed in the last 90 days within 7 days after "
            "a loan was opened at a different lender",
        ),
        "PAST_DUE_HISTORY": (
            summary.worst_days_past_due_24m,
            f"worst days past due in the last 24 months: {summary.worst_days_past_due_24m}",
        ),
        "HIGH_UTILISATION": utilisation,
        "APPLICATION_BURST": (
            summary.other_lenders_inquiring.get("24h", 0),
            f"{summary.other_lenders_inquiring.get('24h', 0)} other lenders made credit "
            "inquiries in the last 24 hours",
        ),
        "PENDING_ELSEWHERE": (
            summary.pending_applications + summary.provisional_loans,
            f"{summary.pending_applications} pending application(s) and "
            f"{summary.provisional_loans} provisional loan(s) at other lenders",
        ),
        "SHARED_PHONE": (
            summary.max_borrowers_per_phone,
            f"one of this borrower's phones was seen with {summary.max_borrowers_per_phone} "
            "distinct borrowers in the last 90 days",
        ),
    }


def evaluate_flags(summary: Summary, policy: Policy) -> list[Flag]:
    """The policy's flags that this summary raises, in the policy's order."""
    # A tradeline whose dispute went unanswered past its deadline counts towards no flag.
    measured = _measures(summary.flag_basis or summary, policy)
    flags = []
    for code in RULE_CODES:
        threshold = policy.thresholds.get(code)
        value, text = measured[code]
        if threshold is not None and value >= threshold:
            unit = "%" if code == "HIGH_UTILISATION" else ""
            flags.append(Flag(code, f"{text} (threshold {threshold}{unit})"))
    return flags
