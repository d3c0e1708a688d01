"""The OPRF and VOPRF protocols of RFC 9497 section 3 for ristretto255-SHA512.

Client (lender):  blind -> send blinded element -> finalize / verify_and_finalize_batch
Server (registry): blind_evaluate (OPRF) / blind_evaluate_batch (VOPRF, one proof per batch)

All values are their byte encodings: elements and scalars 32 bytes, proofs 64, outputs 64.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence

from rfc9497 import dleq, group
from rfc9497.errors import OprfError, VerifyError
from rfc9497.group import (
    ELEMENT_LENGTH_PREFIX,
    IDENTITY,
    context,
    decode_element,
    decode_scalar,
    hash_to_scalar,
    i2osp,
    mul,
    mul_base,
    random_scalar,
    scalar_invert,
    scalar_mul,
)
from rfc9497.suite import SEED_SIZE, Mode


def derive_key_pair(seed: bytes, info: bytes, mode: Mode) -> tuple[bytes, bytes]:
    """RFC 9497 section 3.2.1, DeriveKeyPair: (skS, pkS) from a 32-byte seed and public
    key info. The counter loop retries the (astronomically unlikely) zero scalar."""
    if not isinstance(seed, bytes) or len(seed) != SEED_SIZE:
        raise OprfError(f"seed must be {SEED_SIZE} bytes")
    ctx = context(mode)
    derive_input = seed + i2osp(len(info), 2) + info
    for counter in range(256):
        sk = hash_to_scalar(derive_input + i2osp(counter, 1), ctx.derive_key_pair_dst)
        if any(sk):
            return sk, mul_base(sk)
    raise OprfError("DeriveKeyPairError: no non-zero scalar in 256 attempts")


def generate_key_pair(mode: Mode) -> tuple[bytes, bytes]:
    """A fresh random key pair: DeriveKeyPair over a seed from `secrets` (equivalent to
    section 3.2's GenerateKeyPair, and the same code path as the derived one)."""
    return derive_key_pair(secrets.token_bytes(SEED_SIZE), b"", mode)


def public_key(sk: bytes) -> bytes:
    """pkS = skS * G (RFC 9497 section 3.2)."""
    return mul_base(decode_scalar(sk, "private key"))


def _check_input(private_input: bytes) -> None:
    # Inputs are length-prefixed with I2OSP(len, 2) in Finalize (section 3.3.1).
    if len(private_input) > 0xFFFF:
        raise OprfError("private input longer than 65535 bytes")


def hash_to_group(private_input: bytes, mode: Mode) -> bytes:
    """The input element of Blind and Evaluate (RFC 9497 section 3.3.1): HashToGroup with the
    mode's DST, and the InvalidInputError check for the identity (probability about 2^-252)."""
    _check_input(private_input)
    element = group.hash_to_group(private_input, context(mode))
    if element == IDENTITY:
        raise OprfError("InvalidInputError: the input hashes to the identity element")
    return element


def evaluate(sk: bytes, private_input: bytes, mode: Mode) -> bytes:
    """RFC 9497 section 3.3.1 and 3.3.2, Evaluate: the PRF output computed directly by the key
    holder, without blinding. Equal to what a client gets from the blinded protocol."""
    sk = decode_scalar(sk, "private key")
    return _finalize_hash(private_input, mul(sk, hash_to_group(private_input, mode)))


def blind(private_input: bytes, mode: Mode, blind: bytes | None = None) -> tuple[bytes, bytes]:
    """RFC 9497 section 3.3.1, Blind: (blind, blindedElement). The blind is random unless
    given; give it only to reproduce test vectors."""
    scalar = random_scalar() if blind is None else decode_scalar(blind, "blind")
    return scalar, mul(scalar, hash_to_group(private_input, mode))


def blind_evaluate(sk: bytes, blinded_element: bytes) -> bytes:
    """RFC 9497 section 3.3.1, BlindEvaluate (OPRF mode): skS * blindedElement."""
    return mul(decode_scalar(sk, "private key"), decode_element(blinded_element))


def blind_evaluate_batch(
    sk: bytes, pk: bytes, blinded_elements: Sequence[bytes], r: bytes | None = None
) -> tuple[list[bytes], bytes]:
    """RFC 9497 section 3.3.2, BlindEvaluate (VOPRF mode) for a batch: the evaluated
    elements and one proof over all of them (GenerateProof, ComputeCompositesFast). `r` is
    the proof nonce, random unless given (test vectors only). Raises InvalidElementError
    naming the first bad element's index."""
    sk = decode_scalar(sk, "private key")
    if public_key(sk) != pk:
        # A mismatched pair would give proofs that no client accepts: fail here instead.
        raise OprfError("pk is not the public key of sk")
    if not blinded_elements:
        raise OprfError("empty batch")
    if r is not None:
        r = decode_scalar(r, "proof nonce")
    blinded = [decode_element(element, i) for i, element in enumerate(blinded_elements)]
    evaluated = [mul(sk, element) for element in blinded]
    proof = dleq.generate_proof(sk, pk, blinded, evaluated, context(Mode.VOPRF), r)
    return evaluated, proof


def _finalize_hash(private_input: bytes, unblinded_element: bytes) -> bytes:
    """The hash of section 3.3.1 Finalize: SHA-512 over the length-prefixed input and
    unblinded element and "Finalize" (the same in OPRF and VOPRF modes)."""
    digest = hashlib.sha512(i2osp(len(private_input), 2))
    digest.update(private_input)
    digest.update(ELEMENT_LENGTH_PREFIX + unblinded_element + b"Finalize")
    return digest.digest()


def finalize(private_input: bytes, blind: bytes, evaluated_element: bytes) -> bytes:
    """RFC 9497 section 3.3.1, Finalize (OPRF mode): unblind with 1/blind and hash."""
    _check_input(private_input)
    inverse = scalar_invert(decode_scalar(blind, "blind"))
    return _finalize_hash(private_input, mul(inverse, decode_element(evaluated_element)))


def _invert_all(scalars: Sequence[bytes]) -> list[bytes]:
    """Inverses of non-zero scalars by Montgomery's trick: one inversion and 3(n - 1)
    multiplications, as an inversion costs about as much as 35 multiplications."""
    prefix = [scalars[0]]
    for scalar in scalars[1:]:
        prefix.append(scalar_mul(prefix[-1], scalar))
    inverse = scalar_invert(prefix[-1])  # 1 / (s_0 * ... * s_{n-1})
    result = [b""] * len(scalars)
    for i in range(len(scalars) - 1, 0, -1):
        result[i] = scalar_mul(inverse, prefix[i - 1])  # (s_0...s_{i-1}) / (s_0...s_i)
        inverse = scalar_mul(inverse, scalars[i])  # now 1 / (s_0 * ... * s_{i-1})
    result[0] = inverse
    return result


def verify_and_finalize_batch(
    pk: bytes,
    private_inputs: Sequence[bytes],
    blinds: Sequence[bytes],
    blinded_elements: Sequence[bytes],
    evaluated_elements: Sequence[bytes],
    proof: bytes,
) -> list[bytes]:
    """RFC 9497 section 3.3.2, Finalize (VOPRF mode) for a batch: verify the one proof over
    all elements (VerifyProof, ComputeComposites), then unblind and hash each. Raises
    VerifyError if the proof does not verify, InvalidElementError (with the index) for a bad
    evaluated element, before any output is computed."""
    count = len(private_inputs)
    if count == 0:
        raise OprfError("empty batch")
    if not count == len(blinds) == len(blinded_elements) == len(evaluated_elements):
        raise OprfError("inputs, blinds, blinded and evaluated elements differ in number")
    for private_input in private_inputs:
        _check_input(private_input)
    pk = decode_element(pk)
    blinded = [decode_element(element, i) for i, element in enumerate(blinded_elements)]
    evaluated = [decode_element(element, i) for i, element in enumerate(evaluated_elements)]
    scalars = [decode_scalar(scalar, "blind") for scalar in blinds]
    if not dleq.verify_proof(pk, blinded, evaluated, proof, context(Mode.VOPRF)):
        raise VerifyError("the evaluation proof does not verify")
    return [
        _finalize_hash(private_input, mul(inverse, element))
        for private_input, inverse, element in zip(
            private_inputs, _invert_all(scalars), evaluated, strict=True
        )
    ]
