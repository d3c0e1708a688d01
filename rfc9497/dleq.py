"""Batched discrete-log-equality proofs (RFC 9497 section 2.2).

The proof shows that the evaluated elements D[i] = k * C[i] use the same k as the public key
B = k * A, without revealing k. In the VOPRF, A is always the group generator, so these
functions take it as implied. A batch of m elements gets one proof over a random linear
combination of the elements (the "composites" M and Z).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence

from rfc9497.errors import InvalidScalarError, OprfError
from rfc9497.group import (
    ELEMENT_LENGTH_PREFIX,
    Context,
    add,
    hash_to_scalar,
    i2osp,
    mul,
    mul_base,
    random_scalar,
    scalar_mul,
    scalar_sub,
)
from rfc9497.suite import GROUP_ORDER, PROOF_SIZE, SCALAR_SIZE


def _composite_weights(
    pk: bytes, blinded: Sequence[bytes], evaluated: Sequence[bytes], ctx: Context
) -> Iterator[bytes]:
    """Yields the weight d_i of each element pair (section 2.2.1): a seed bound to the public
    key, then one HashToScalar per pair, so that no party chooses the weights."""
    if not 0 < len(blinded) == len(evaluated) <= 0x10000:  # indices are I2OSP(i, 2)
        raise OprfError("a proof needs 1 to 65536 blinded and as many evaluated elements")
    seed_transcript = ELEMENT_LENGTH_PREFIX + pk + i2osp(len(ctx.seed_dst), 2) + ctx.seed_dst
    seed = hashlib.sha512(seed_transcript).digest()
    seed_prefix = i2osp(len(seed), 2) + seed
    for i, (c_i, d_i) in enumerate(zip(blinded, evaluated, strict=True)):
        transcript = b"".join(
            (seed_prefix, i2osp(i, 2), ELEMENT_LENGTH_PREFIX, c_i, ELEMENT_LENGTH_PREFIX, d_i)
        )
        yield hash_to_scalar(transcript + b"Composite", ctx.hash_to_scalar_dst)


def compute_composites(
    pk: bytes, blinded: Sequence[bytes], evaluated: Sequence[bytes], ctx: Context
) -> tuple[bytes, bytes]:
    """RFC 9497 section 2.2.1, ComputeComposites: M = sum d_i * C[i], Z = sum d_i * D[i].
    The verifier's version: it does not know k."""
    weights = _composite_weights(pk, blinded, evaluated, ctx)
    m = z = b""
    for d_i, c_i, e_i in zip(weights, blinded, evaluated, strict=True):
        # Start from the first term rather than the identity: one addition fewer.
        m = add(m, mul(d_i, c_i)) if m else mul(d_i, c_i)
        z = add(z, mul(d_i, e_i)) if z else mul(d_i, e_i)
    return m, z


def compute_composites_fast(
    k: bytes, pk: bytes, blinded: Sequence[bytes], evaluated: Sequence[bytes], ctx: Context
) -> tuple[bytes, bytes]:
    """RFC 9497 section 2.2.1, ComputeCompositesFast: the prover knows k, so Z = k * M,
    which saves one scalar multiplication per element."""
    weights = _composite_weights(pk, blinded, evaluated, ctx)
    m = b""
    for d_i, c_i in zip(weights, blinded, strict=True):
        m = add(m, mul(d_i, c_i)) if m else mul(d_i, c_i)
    return m, mul(k, m)


def _challenge(pk: bytes, m: bytes, z: bytes, t2: bytes, t3: bytes, ctx: Context) -> bytes:
    """The Fiat-Shamir challenge c of section 2.2.2 and 2.2.3: HashToScalar over the
    length-prefixed B, M, Z, t2, t3 and the string "Challenge"."""
    transcript = b"".join(
        part for element in (pk, m, z, t2, t3) for part in (ELEMENT_LENGTH_PREFIX, element)
    )
    return hash_to_scalar(transcript + b"Challenge", ctx.hash_to_scalar_dst)


def generate_proof(
    k: bytes,
    pk: bytes,
    blinded: Sequence[bytes],
    evaluated: Sequence[bytes],
    ctx: Context,
    r: bytes | None = None,
) -> bytes:
    """RFC 9497 section 2.2.2, GenerateProof with A = G: returns c || s (64 bytes).
    `r` is the proof's random nonce; pass it only to reproduce test vectors."""
    m, z = compute_composites_fast(k, pk, blinded, evaluated, ctx)
    if r is None:
        r = random_scalar()
    t2 = mul_base(r)
    t3 = mul(r, m)
    c = _challenge(pk, m, z, t2, t3, ctx)
    s = scalar_sub(r, scalar_mul(c, k))
    return c + s


def _is_proof_scalar(data: bytes) -> bool:
    """One half of a proof must be a scalar in [1, order - 1]: libsodium would silently reduce
    a larger one, and cannot multiply by zero (which an honest proof has with probability
    1/order)."""
    return 0 < int.from_bytes(data, "little") < GROUP_ORDER


def verify_proof(
    pk: bytes, blinded: Sequence[bytes], evaluated: Sequence[bytes], proof: bytes, ctx: Context
) -> bool:
    """RFC 9497 section 2.2.3, VerifyProof with A = G. Returns False for a proof that is
    malformed (wrong length, a scalar not in [1, order - 1]) as for one that does not match.
    The elements must already be validated."""
    if not isinstance(proof, bytes) or len(proof) != PROOF_SIZE:
        return False
    c, s = proof[:SCALAR_SIZE], proof[SCALAR_SIZE:]
    if not (_is_proof_scalar(c) and _is_proof_scalar(s)):
        return False
    m, z = compute_composites(pk, blinded, evaluated, ctx)
    try:
        t2 = add(mul_base(s), mul(c, pk))
        t3 = add(mul(s, m), mul(c, z))
    except InvalidScalarError:
        # A composite equal to the identity: only a forged batch gets there.
        return False
    return _challenge(pk, m, z, t2, t3, ctx) == c
