"""`/v1/disputes`: a borrower's dispute of one record, relayed by a lender, and the owning
lender's answer."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field
from pydantic.config import JsonDict

from registry.models import DisputeResolution, DisputeStatus
from registry.schemas.common import UtcDateTime, _Strict

_PRINTABLE: JsonDict = {"pattern": "^[^\\u0000-\\u001f\\u007f]+$"}


class DisputeBody(_Strict):
    """`POST /v1/disputes`."""

    inquiry_id: str = Field(
        min_length=1,
        max_length=36,
        description="one of your inquiries of the last 90 days about the borrower",
    )
    tradeline: str = Field(
        min_length=1,
        max_length=32,
        description="the label of the disputed tradeline in that inquiry's report: B, or B/2 "
        "(the second under B, in the report's order) when B names several",
    )
    reason: str = Field(
        min_length=1,
        max_length=500,
        json_schema_extra=_PRINTABLE,
        description="what the borrower contests, in a sentence",
    )


class AnswerBody(_Strict):
    """`POST /v1/disputes/<id>/answer`."""

    resolution: Annotated[DisputeResolution, Field(strict=False)] = Field(
        description="confirmed: the record stands; corrected: you sent a correction of the "
        'loan since the dispute opened ("correction": true); retracted: you retracted the '
        "loan since it opened"
    )
    note: str | None = Field(
        default=None,
        max_length=500,
        json_schema_extra=_PRINTABLE,
        description="what you found, for the borrower and the registry",
    )


class OpenedDisputeOut(BaseModel):
    """A dispute as its opener sees it: never whose record it is."""

    id: str
    inquiry_id: str | None
    tradeline: str = Field(description="the label the dispute was opened with")
    reason: str
    opened_at: UtcDateTime
    due_at: UtcDateTime = Field(description="the owning lender answers by then")
    status: DisputeStatus = Field(description="open or answered")
    overdue: bool = Field(description="open and past due_at")
    resolution: DisputeResolution | None
    answered_at: UtcDateTime | None


class DisputeOut(BaseModel):
    """A dispute of one of the caller's records, as the owning lender sees it."""

    id: str
    borrower: str
    loan_ref: str = Field(description="your loan that is disputed")
    reason: str
    opened_via: Literal["lender", "registry"] = Field(
        description="relayed by a member lender (never named) or opened at the registry's desk"
    )
    opened_at: UtcDateTime
    due_at: UtcDateTime = Field(
        description="answer by then (opened_at + the policy's dispute_days)"
    )
    status: DisputeStatus = Field(description="open or answered")
    overdue: bool = Field(description="open and past due_at")
    resolution: DisputeResolution | None
    note: str | None
    answered_at: UtcDateTime | None


class DisputeList(BaseModel):
    data: list[DisputeOut] = Field(description="the most urgent first (by due_at)")
