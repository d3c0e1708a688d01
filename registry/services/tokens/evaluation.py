"""Batched VOPRF evaluation (RFC 9497) of lenders' blinded elements, in two steps: the
batch is checked and charged to the lender's daily quota in the caller's unit of work, then
evaluated by `registry.signer` once that charge is committed (no lock is held meanwhile).

The registry never sees an ID or the lenders' inner hash: only blinded group elements."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

import rfc9497
from registry.models import Lender
from registry.services.errors import FieldError, InvalidInput
from registry.services.tokens.keys import key_info
from registry.services.tokens.quota import charge
from registry.signer import Signer

MAX_ELEMENTS = 1000


@dataclass(frozen=True)
class Batch:
    """Blinded elements checked and paid for, to evaluate under `key_id`."""

    key_id: str
    live_key_ids: frozenset[str]
    blinded: list[bytes]


@dataclass(frozen=True)
class Evaluation:
    key_id: str
    evaluated_elements: list[bytes]
    proof: bytes


def decode_elements(elements: Sequence[Any]) -> list[bytes]:
    """Hex strings to validated group elements; every bad one is named by its index."""
    decoded: list[bytes] = []
    errors: list[FieldError] = []
    for index, value in enumerate(elements):
        where = f"blinded_elements[{index}]"
        if not isinstance(value, str) or len(value) != 2 * rfc9497.ELEMENT_SIZE:
            errors.append(FieldError(where, "must be 64 hexadecimal characters"))
            continue
        try:
            raw = bytes.fromhex(value)
        except ValueError:
            errors.append(FieldError(where, "must be 64 hexadecimal characters"))
            continue
        try:
            decoded.append(rfc9497.decode_element(raw, index))
        except rfc9497.InvalidElementError:
            errors.append(
                FieldError(where, "is not a valid ristretto255 element (or is the identity)")
            )
    if errors:
        raise InvalidInput(f"{len(errors)} of {len(elements)} blinded elements are invalid", errors)
    return decoded


def charge_batch(
    session: Session,
    lender: Lender,
    elements: Sequence[Any],
    key_id: str | None,
    now: datetime,
    default_quota: int,
) -> Batch:
    """Check a batch (size, elements, key: the current one, or the next one during a key
    rotation) and charge it to the lender's daily quota (QuotaExceeded when it does not
    fit). Commit before `evaluate`, which needs no database."""
    if not 1 <= len(elements) <= MAX_ELEMENTS:
        raise InvalidInput(
            "the batch size is out of range",
            [FieldError("blinded_elements", f"must hold 1 to {MAX_ELEMENTS} elements")],
        )
    blinded = decode_elements(elements)
    info = key_info(session)
    chosen = key_id or info.current.key_id
    if chosen not in info.live_key_ids:
        raise InvalidInput(
            "unknown key_id",
            [FieldError("key_id", f"must be one of {sorted(info.live_key_ids)}")],
        )
    charge(session, lender, len(blinded), now, default_quota)
    return Batch(chosen, frozenset(info.live_key_ids), blinded)


def evaluate(signer: Signer, batch: Batch) -> Evaluation:
    """The evaluated elements and one batched DLEQ proof."""
    signer.forget_all_but(batch.live_key_ids)
    evaluated, proof = signer.evaluate_batch(batch.key_id, batch.blinded)
    return Evaluation(batch.key_id, evaluated, proof)
