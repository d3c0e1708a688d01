"""Which loan a tradeline label of a stored report stands for, so that a lender can dispute
another lender's record without ever learning whose it is or its `loan_ref`.

A report hides each lender behind a label (`A`, `B`, ...; see `report/tradelines.py`) and does
not store what the labels stood for. The labels are made again from the book as it stood at
the inquiry: the borrower's loans first reported at or before it, with the provisional loans
(approved applications) it showed, labelled at its moment as the inquiry labelled them. The
stored report's tradelines under that label must then match the remade ones one for one on
what a later report does not change (product, currency, opening month, credit limit); the
n-th of them is the n-th loan. When the book changed since in a way that breaks the match (a
loan retracted, a correction of an opening date), the one loan matching the tradeline's
details is taken if there is exactly one; otherwise the dispute cannot be placed and the
operator opens it from the borrower page instead.

A label names every tradeline of one lender in the report: `B` alone is enough when lender
B has one tradeline there; with several, `B/2` names the second under B, in the report's
order. A provisional loan is no record yet (an approval not reported): it cannot be disputed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.models import Inquiry, Loan
from registry.services.errors import Conflict, FieldError, InvalidInput
from registry.services.policy import load_policy
from registry.services.report.applications import provisional_loans, read_applications
from registry.services.report.book import read_book
from registry.services.report.tradelines import PROVISIONAL, Tradeline, build_tradelines

__all__ = ["PlacedTradeline", "parse_label", "place"]

_LABEL = re.compile(r"([A-Z]{1,8})(?:/([1-9][0-9]{0,3}))?")
NOT_PLACED = (
    "the record behind this tradeline changed since the inquiry and it can no longer be told "
    "apart; ask the registry's operator to open the dispute"
)


@dataclass(frozen=True)
class PlacedTradeline:
    label: str  # as the opener named it (B or B/2)
    lender_id: int
    loan_ref: str


def parse_label(text: str) -> tuple[str, int | None]:
    """`B` -> ("B", None); `B/2` -> ("B", 2). Anything else is a field error."""
    match = _LABEL.fullmatch(text.strip())
    if match is None:
        raise InvalidInput(
            "the tradeline is invalid",
            [FieldError("tradeline", "a tradeline label of the report, such as B (or B/2)")],
        )
    return match.group(1), int(match.group(2)) if match.group(2) else None


def _signature(line: Mapping[str, Any]) -> tuple[Any, ...]:
    return (line["product"], line["currency"], line["opened_month"], line["credit_limit"])


def _line_signature(line: Tradeline) -> tuple[Any, ...]:
    return (line.product, line.currency, line.opened_month, line.credit_limit)


def _stored_lines(inquiry: Inquiry, label: str, index: int | None) -> list[dict[str, Any]]:
    """The stored report's tradelines under `label`, with the one named checked to exist."""
    stored = inquiry.report.get("tradelines") or []
    named = [line for line in stored if isinstance(line, dict) and line.get("lender") == label]
    shown = f"{label}/{index}" if index else label
    if not named:
        raise InvalidInput(
            "the tradeline is invalid",
            [FieldError("tradeline", f"no tradeline {shown} in that inquiry's report")],
        )
    if index is None and len(named) > 1:
        choices = ", ".join(f"{label}/{n}" for n in range(1, len(named) + 1))
        raise InvalidInput(
            "the tradeline is invalid",
            [
                FieldError(
                    "tradeline",
                    f"{label} names {len(named)} tradelines in that report: name one of "
                    f"{choices} (in the report's order)",
                )
            ],
        )
    if index is not None and index > len(named):
        raise InvalidInput(
            "the tradeline is invalid",
            [FieldError("tradeline", f"no tradeline {shown}: {label} names {len(named)}")],
        )
    return named


def place(session: Session, inquiry: Inquiry, text: str) -> PlacedTradeline:
    """The loan that tradeline `text` of `inquiry`'s stored report stands for."""
    label, index = parse_label(text)
    named = _stored_lines(inquiry, label, index)
    target = named[(index or 1) - 1]
    at = inquiry.created_at
    first_reported = {
        (lender_id, loan_ref): reported
        for lender_id, loan_ref, reported in session.execute(
            select(Loan.lender_id, Loan.loan_ref, Loan.first_reported_at).where(
                Loan.borrower == inquiry.borrower
            )
        ).tuples()
    }
    known = [
        loan
        for loan in read_book(session, inquiry.borrower)
        if first_reported[(loan.lender_id, loan.loan_ref)] <= at
    ]
    policy = load_policy(session)
    # The applications as they stood: an outcome recorded after the inquiry was not known.
    applications = [
        app
        if app.recorded_at is None or app.recorded_at <= at
        else replace(app, outcome=None, loan_ref=None, recorded_at=None)
        for app in read_applications(
            session, inquiry.borrower, inquiry.lender_id, at, policy.provisional_days
        )
    ]
    provisional = provisional_loans(applications, known, at, policy.provisional_days)
    # Freshness plays no part in labels or in the match.
    lines = build_tradelines(
        [*known, *provisional],
        inquiry.borrower,
        inquiry.lender_id,
        at,
        0,
        policy.retention_closed_months,
    )
    remade = [line for line in lines if line.lender == label]
    if [_line_signature(line) for line in remade] == [_signature(line) for line in named]:
        chosen = remade[(index or 1) - 1]
    else:
        alike = [
            line
            for line in lines
            if _line_signature(line) == _signature(target) and line.own == bool(target.get("own"))
        ]
        if len(alike) != 1:
            raise Conflict(NOT_PLACED)
        chosen = alike[0]
    if chosen.status == PROVISIONAL:
        raise InvalidInput(
            "the tradeline is invalid",
            [
                FieldError(
                    "tradeline",
                    "a provisional loan is an approved application not reported yet: there is "
                    "no record to dispute",
                )
            ],
        )
    return PlacedTradeline(text.strip(), chosen.lender_id, chosen.loan.loan_ref)
