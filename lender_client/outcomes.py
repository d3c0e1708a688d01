"""Applications' outcomes: what came of a ``new_credit`` inquiry
(``POST /v1/inquiries/<inquiry_id>/outcome``).

Every ``new_credit`` inquiry is an application. Its lender says what came of it: ``approved``
(with the loan's reference, amount and currency), ``declined`` or ``withdrawn``. An approved
application is at once a *provisional loan* in other lenders' reports, until the lender
reports the loan under that ``loan_ref`` or the registry's ``provisional_days`` pass; a
declined one is never shown to other lenders.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lender_client.errors import UnexpectedResponseError
from lender_client.idempotency import key_or_new
from lender_client.loans import path_segment
from lender_client.parsing import enum_or_str, parse_timestamp, required
from lender_client.transport import Transport

__all__ = ["ApplicationOutcome", "Outcome", "OutcomesAPI"]


class Outcome(enum.StrEnum):
    """What came of an application."""

    APPROVED = "approved"
    DECLINED = "declined"
    WITHDRAWN = "withdrawn"


@dataclass(frozen=True, slots=True)
class ApplicationOutcome:
    """The registry's record of an application's outcome, as it answers
    :meth:`OutcomesAPI.record_outcome`. ``loan_ref``, ``amount`` (minor units) and
    ``currency`` are set for ``approved`` only; so is ``provisional_until``, when the
    provisional loan leaves other lenders' reports if the loan has not been reported by then.
    """

    inquiry_id: str
    outcome: Outcome | str
    loan_ref: str | None
    amount: int | None
    currency: str | None
    inquired_at: datetime
    recorded_at: datetime
    provisional_until: datetime | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def approved(self) -> bool:
        return self.outcome == Outcome.APPROVED

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ApplicationOutcome:
        try:
            until = data.get("provisional_until")
            return cls(
                inquiry_id=required(data, "inquiry_id", str),
                outcome=enum_or_str(Outcome, required(data, "outcome", str)),
                loan_ref=_optional(data, "loan_ref", str),
                amount=_optional(data, "amount", int),
                currency=_optional(data, "currency", str),
                inquired_at=parse_timestamp(required(data, "inquired_at", str)),
                recorded_at=parse_timestamp(required(data, "recorded_at", str)),
                provisional_until=parse_timestamp(until) if until is not None else None,
                raw=dict(data),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise UnexpectedResponseError(f"unreadable outcome in response: {exc}") from exc


def _optional(data: Mapping[str, Any], key: str, kind: type[Any]) -> Any:
    if data.get(key) is None:
        return None
    return required(data, key, kind)


class OutcomesAPI(Transport):
    """``POST /v1/inquiries/<inquiry_id>/outcome``."""

    def record_outcome(
        self,
        inquiry_id: str,
        outcome: Outcome | str,
        *,
        loan_ref: str | None = None,
        amount: int | None = None,
        currency: str | None = None,
        idempotency_key: str | None = None,
    ) -> ApplicationOutcome:
        """Record what came of one of your ``new_credit`` inquiries (its ``inquiry_id``, from
        the report): ``approved`` with ``loan_ref``, ``amount`` (minor units) and
        ``currency`` of the loan you will report, or ``declined`` or ``withdrawn`` (without
        them).

        >>> client.record_outcome(report.inquiry_id, "approved", loan_ref="L-2026-0042",
        ...                       amount=300_000, currency="CNY")  # doctest: +SKIP

        An approved application shows at once in other lenders' reports as a provisional
        loan, until you report the loan under ``loan_ref`` (report it as usual) or until
        ``provisional_until``. Declines are never shown to other lenders.

        Recording the same outcome again is harmless: the registry answers with the record
        it holds, so the call is retried like any other (connection errors, timeouts, 5xx),
        with one idempotency key across its retries. A different outcome (or other loan
        details) for an inquiry that has one raises :class:`ConflictError`; an inquiry that
        is not yours, or unknown, :class:`NotFoundError`; a missing or refused field, an
        ``account_review`` inquiry or one more than 30 days old, :class:`ValidationError`
        naming the field.
        """
        if not isinstance(inquiry_id, str) or not inquiry_id.strip():
            raise ValueError("inquiry_id must be the inquiry's id, as its report gave it")
        text = str(outcome)
        if text not in {o.value for o in Outcome}:
            choices = ", ".join(o.value for o in Outcome)
            raise ValueError(f"outcome must be one of {choices}, not {text!r}")
        if amount is not None and (isinstance(amount, bool) or not isinstance(amount, int)):
            raise TypeError("amount must be an int (minor units)")
        for name, value in (("loan_ref", loan_ref), ("currency", currency)):
            if value is not None and not isinstance(value, str):
                raise TypeError(f"{name} must be a str")
        body: dict[str, Any] = {"outcome": text}
        if loan_ref is not None:
            body["loan_ref"] = loan_ref
        if amount is not None:
            body["amount"] = amount
        if currency is not None:
            body["currency"] = currency
        try:
            path = f"/v1/inquiries/{path_segment(inquiry_id.strip())}/outcome"
        except UnicodeEncodeError:
            raise ValueError("inquiry_id is not valid Unicode (a lone surrogate)") from None
        data = self.request(
            "POST", path, json_body=body, idempotency_key=key_or_new(idempotency_key)
        )
        return ApplicationOutcome.from_json(self._json_object(data, "an outcome"))
