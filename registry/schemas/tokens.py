"""`/v1/tokens`: the published key and the batched VOPRF evaluation."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

import rfc9497
from registry.clock import iso
from registry.schemas.common import _Strict
from registry.services.tokens import MAX_ELEMENTS, MODE, Evaluation, KeyInfo, RotationWindow


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
