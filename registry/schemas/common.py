"""What every part of the API shares: strict request bodies, field errors, problems."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


def _in_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


# A timestamp in an answer: always written in UTC with a Z (2026-11-25T12:00:00Z).
UtcDateTime = Annotated[datetime, AfterValidator(_in_utc)]


class FieldErrorOut(BaseModel):
    field: str = Field(description="JSON path of the offending value, e.g. loans[3].due_on")
    message: str


class ProblemOut(BaseModel):
    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    request_id: str | None = None
    errors: list[FieldErrorOut] | None = None
