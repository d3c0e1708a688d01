"""`/v1/tokens`: the published key, the batched VOPRF evaluation, and a lender's part in a
rotation window (what it still has to cover, the next tokens it sends)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

import rfc9497
from registry.clock import iso
from registry.schemas.common import UtcDateTime, _Strict
from registry.services.fields import BorrowerToken
from registry.services.tokens import MAX_ELEMENTS, MODE, Evaluation, KeyInfo, RotationWindow
from registry.services.tokens.rotation_pending import (
    MAX_MAPPINGS,
    MappingOutcome,
    PendingRow,
    PendingTotals,
)


class TokenEvaluateBody(_Strict):
    """`POST /v1/tokens/evaluate`: RFC 9497 VOPRF BlindEvaluateBatch."""

    blinded_elements: Annotated[
        list[Any],
        Field(
            min_length=1,
            max_length=MAX_ELEMENTS,
            description="blinded ristretto255 elements, 64 lower-case hex characters each",
        ),
    ]
    key_id: str | None = Field(
        default=None,
        max_length=32,
        description="the key to evaluate under: the current one by default, or the next one "
        "during a key rotation window",
    )


class PublishedKeyOut(BaseModel):
    key_id: str
    public_key: str = Field(description="the key's ristretto255 public key, 64 hex characters")


class NextKeyOut(PublishedKeyOut):
    pepper_fingerprint: str | None = Field(
        description="the fingerprint of the pepper to make next tokens with, when recorded"
    )


class RotationOut(BaseModel):
    kind: str = Field(description="'key' (a new registry key) or 'pepper' (a new pepper)")
    label: str
    opened_at: str
    next: NextKeyOut

    @classmethod
    def from_window(cls, window: RotationWindow) -> RotationOut:
        return cls(
            kind=window.kind,
            label=window.label,
            opened_at=iso(window.opened_at),
            next=NextKeyOut(
                key_id=window.next.key_id,
                public_key=window.next.public_key.hex(),
                pepper_fingerprint=window.next_pepper_fingerprint,
            ),
        )


class TokenKeyOut(BaseModel):
    suite: str = Field(description="always ristretto255-SHA512")
    mode: str = Field(description="always voprf (RFC 9497 mode 0x01)")
    key_id: str
    public_key: str
    pepper_fingerprint: str | None = Field(
        description="16 hex: HMAC-SHA256(pepper, 'lender-client pepper fingerprint v1'), "
        "truncated; an SDK refuses to make tokens with a pepper that does not match it"
    )
    rotation: RotationOut | None = Field(
        description="set while a rotation window is open: send borrower_next with every "
        "report and inquiry"
    )

    @classmethod
    def from_info(cls, info: KeyInfo) -> TokenKeyOut:
        return cls(
            suite=rfc9497.SUITE_ID,
            mode=MODE,
            key_id=info.current.key_id,
            public_key=info.current.public_key.hex(),
            pepper_fingerprint=info.pepper_fingerprint,
            rotation=RotationOut.from_window(info.rotation) if info.rotation else None,
        )


class TokenEvaluationOut(BaseModel):
    key_id: str
    evaluated_elements: list[str]
    proof: str = Field(description="one batched DLEQ proof (c || s), 128 hex characters")

    @classmethod
    def from_evaluation(cls, evaluation: Evaluation) -> TokenEvaluationOut:
        return cls(
            key_id=evaluation.key_id,
            evaluated_elements=[e.hex() for e in evaluation.evaluated_elements],
            proof=evaluation.proof.hex(),
        )


# -- rotation windows: what a lender still has to cover, and the next tokens it sends --------


class PendingItemOut(BaseModel):
    kind: Literal["loan", "inquiry", "application_outcome", "dispute"]
    borrower: str = Field(description="the borrower's current token, 64 hex characters")
    loan_ref: str | None = Field(description="the loan's (a loan, an approved outcome, a dispute)")
    inquiry_id: str | None
    dispute_id: str | None
    status: str | None = Field(description="a loan's or dispute's status, an outcome's outcome")
    created_at: UtcDateTime | None = Field(
        description="first reported (a loan), made (an inquiry), inquired (an outcome), "
        "opened (a dispute)"
    )

    @classmethod
    def from_row(cls, row: PendingRow) -> PendingItemOut:
        # The fields by name, the token as hex (pydantic would decode bytes as text).
        return cls.model_validate(asdict(row) | {"borrower": row.borrower.hex()})


class PendingTotalsOut(BaseModel):
    loans: dict[str, int] = Field(description="by loan status: open, closed, written_off")
    inquiries: int
    application_outcomes: int
    disputes: int
    borrowers: int = Field(description="distinct borrower tokens among them")
    total: int

    @classmethod
    def from_totals(cls, totals: PendingTotals) -> PendingTotalsOut:
        return cls.model_validate(totals, from_attributes=True)  # `total` is a property


class PendingPageOut(BaseModel):
    data: list[PendingItemOut]
    next_cursor: str | None = Field(
        description="pass as ?cursor= for the next page; null at the end"
    )
    totals: PendingTotalsOut = Field(
        description="everything pending (of the kind asked for), not just this page"
    )


class TokenMappingIn(_Strict):
    borrower: BorrowerToken
    borrower_next: BorrowerToken


class TokenMappingsBody(_Strict):
    """`POST /v1/tokens/rotation/mappings`: next tokens for borrowers named by their
    current token, for every row the caller holds about each."""

    mappings: Annotated[list[TokenMappingIn], Field(min_length=1, max_length=MAX_MAPPINGS)]


class TokenMappingsOut(BaseModel):
    matched: int = Field(description="mappings whose borrower the caller holds rows about")
    unmatched: int = Field(description="mappings naming no row of the caller (nothing done)")
    rows: dict[str, int] = Field(
        description="by kind (loan, inquiry, application_outcome, dispute): rows that now "
        "carry their next token"
    )

    @classmethod
    def from_outcome(cls, outcome: MappingOutcome) -> TokenMappingsOut:
        return cls(matched=outcome.matched, unmatched=outcome.unmatched, rows=outcome.rows)
