"""The ristretto255 prime-order group and its hash functions, as RFC 9497 section 4.1 defines
them for ristretto255-SHA512, on top of libsodium (through rbcl).

Elements and scalars stay in their 32-byte encodings throughout: libsodium decodes and encodes
on every call, so there is no point in keeping another representation in Python.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import rbcl

from rfc9497.errors import InvalidElementError, InvalidScalarError, OprfError
from rfc9497.suite import ELEMENT_SIZE, GROUP_ORDER, SCALAR_SIZE, SUITE_ID, Mode

# rbcl has no type information: give the functions used here their real signatures once.
_is_valid_point: Callable[[bytes], bool] = rbcl.crypto_core_ristretto255_is_valid_point
_from_hash: Callable[[bytes], bytes] = rbcl.crypto_core_ristretto255_from_hash
_point_add: Callable[[bytes, bytes], bytes] = rbcl.crypto_core_ristretto255_add
_scalarmult: Callable[[bytes, bytes], bytes] = rbcl.crypto_scalarmult_ristretto255
_scalarmult_base: Callable[[bytes], bytes] = rbcl.crypto_scalarmult_ristretto255_base
_scalar_reduce: Callable[[bytes], bytes] = rbcl.crypto_core_ristretto255_scalar_reduce
random_scalar: Callable[[], bytes] = rbcl.crypto_core_ristretto255_scalar_random
"""RFC 9497 section 2.1, RandomScalar: uniform in [1, order - 1] (libsodium never returns 0)."""
scalar_invert: Callable[[bytes], bytes] = rbcl.crypto_core_ristretto255_scalar_invert
scalar_mul: Callable[[bytes, bytes], bytes] = rbcl.crypto_core_ristretto255_scalar_mul
scalar_sub: Callable[[bytes, bytes], bytes] = rbcl.crypto_core_ristretto255_scalar_sub

# The canonical encoding of the identity element (RFC 9496 section 4.3.2 encodes it as s = 0).
IDENTITY = bytes(ELEMENT_SIZE)

# I2OSP(Ne, 2): every element in a transcript is prefixed with its length, always 32.
ELEMENT_LENGTH_PREFIX = ELEMENT_SIZE.to_bytes(2, "big")

# expand_message_xmd starts every hash with a zero block (Z_pad, s_in_bytes = 128 for
# SHA-512); hashing it once and copying the state saves one compression per call.
_SHA512_AFTER_Z_PAD = hashlib.sha512(bytes(128))


def i2osp(value: int, length: int) -> bytes:
    """RFC 8017 section 4.1, I2OSP: big-endian, raising OprfError if `value` does not fit
    (the RFC's length prefixes limit inputs to 65535 bytes and batches to 65536 elements)."""
    try:
        return value.to_bytes(length, "big")
    except OverflowError:
        raise OprfError(f"{value} does not fit in {length} byte(s)") from None


def expand_message_xmd(msg: bytes, dst: bytes, length: int) -> bytes:
    """RFC 9380 section 5.3.1, expand_message_xmd with SHA-512 (b_in_bytes = 64)."""
    ell = -(-length // 64)
    if ell > 255 or length > 65535 or len(dst) > 255:
        raise OprfError("expand_message_xmd: output or DST too long")
    dst_prime = dst + i2osp(len(dst), 1)
    first = _SHA512_AFTER_Z_PAD.copy()
    first.update(msg)
    first.update(i2osp(length, 2) + b"\x00" + dst_prime)
    b_0 = first.digest()
    b_i = hashlib.sha512(b_0 + b"\x01" + dst_prime).digest()
    blocks = [b_i]
    # With SHA-512 and this suite's 64-byte outputs, ell is 1 and this loop never runs.
    for i in range(2, ell + 1):
        chained = bytes(x ^ y for x, y in zip(b_0, b_i, strict=True))
        b_i = hashlib.sha512(chained + i2osp(i, 1) + dst_prime).digest()
        blocks.append(b_i)
    return b"".join(blocks)[:length]


@dataclass(frozen=True, slots=True)
class Context:
    """The domain-separation strings of one mode (RFC 9497 section 3.1 and 4.1), computed
    once: contextString = "OPRFV1-" || I2OSP(mode, 1) || "-" || identifier."""

    mode: Mode
    context_string: bytes
    hash_to_group_dst: bytes
    hash_to_scalar_dst: bytes
    derive_key_pair_dst: bytes
    seed_dst: bytes

    @classmethod
    def for_mode(cls, mode: Mode) -> Context:
        context = b"OPRFV1-" + i2osp(mode, 1) + b"-" + SUITE_ID.encode("ascii")
        return cls(
            mode=mode,
            context_string=context,
            hash_to_group_dst=b"HashToGroup-" + context,
            hash_to_scalar_dst=b"HashToScalar-" + context,
            derive_key_pair_dst=b"DeriveKeyPair" + context,  # no hyphen, as in section 3.2.1
            seed_dst=b"Seed-" + context,
        )


_CONTEXTS = {mode: Context.for_mode(mode) for mode in Mode}


def context(mode: Mode | int) -> Context:
    """The precomputed Context of `mode` (OprfError for a mode this package does not do)."""
    try:
        return _CONTEXTS[Mode(mode)]
    except ValueError:
        raise OprfError(f"unsupported mode {mode!r}") from None


def hash_to_group(msg: bytes, ctx: Context) -> bytes:
    """RFC 9497 section 4.1, HashToGroup: hash_to_ristretto255 (RFC 9380 appendix B) with
    64 uniform bytes from expand_message_xmd, mapped by libsodium's from_hash (the
    ristretto255 one-way map of RFC 9496 section 4.3.4)."""
    return _from_hash(expand_message_xmd(msg, ctx.hash_to_group_dst, 64))


def hash_to_scalar(msg: bytes, dst: bytes) -> bytes:
    """RFC 9497 section 4.1, HashToScalar: 64 uniform bytes read as a little-endian integer and
    reduced modulo the group order. `dst` defaults, in the RFC, to "HashToScalar-" ||
    contextString; DeriveKeyPair passes its own."""
    return _scalar_reduce(expand_message_xmd(msg, dst, 64))


def decode_element(data: bytes, index: int | None = None) -> bytes:
    """RFC 9497 section 2.1, DeserializeElement: a canonical encoding of a group element
    other than the identity (section 4.1 requires rejecting the identity, and libsodium's
    validity check accepts its all-zero encoding). Returns `data` itself: no copy.
    Raises InvalidElementError carrying `index`, the element's position in its batch."""
    if not isinstance(data, bytes) or len(data) != ELEMENT_SIZE:
        raise InvalidElementError(f"must be {ELEMENT_SIZE} bytes", index)
    if data == IDENTITY:
        raise InvalidElementError("is the identity element", index)
    # libsodium ignores bit 255 when decoding, so it would accept a second encoding of every
    # element; RFC 9496 section 4.3.1 rejects any value >= p, and 2**255 + x always is.
    if data[31] & 0x80 or not _is_valid_point(data):
        raise InvalidElementError("is not a canonical encoding of a group element", index)
    return data


def decode_scalar(data: bytes, what: str = "scalar") -> bytes:
    """RFC 9497 section 2.1, DeserializeScalar, for scalars that must also be non-zero (keys,
    blinds): 32 bytes, little-endian, in [1, order - 1]. libsodium would silently reduce or
    mask a larger value, so the range is checked here."""
    if not isinstance(data, bytes) or len(data) != SCALAR_SIZE:
        raise InvalidScalarError(f"{what} must be {SCALAR_SIZE} bytes")
    value = int.from_bytes(data, "little")
    if value >= GROUP_ORDER:
        raise InvalidScalarError(f"{what} is not reduced modulo the group order")
    if value == 0:
        raise InvalidScalarError(f"{what} must not be zero")
    return data


def mul(scalar: bytes, element: bytes) -> bytes:
    """scalar * element. The group has prime order, so for a valid element libsodium's only
    failure, an identity result, means a zero scalar."""
    try:
        return _scalarmult(scalar, element)
    except RuntimeError:
        raise InvalidScalarError("scalar multiplication gave the identity (zero scalar)") from None


def mul_base(scalar: bytes) -> bytes:
    """scalar * G, the generator (RFC 9497 section 2.1, ScalarMultGen)."""
    try:
        return _scalarmult_base(scalar)
    except RuntimeError:
        raise InvalidScalarError("scalar multiplication gave the identity (zero scalar)") from None


def add(a: bytes, b: bytes) -> bytes:
    """a + b in the group."""
    return _point_add(a, b)
