"""What every part of the API shares: strict request bodies, field errors, problems."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


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
