"""The one ciphersuite this package implements: ristretto255-SHA512 (RFC 9497 section 4.1)."""

from __future__ import annotations

import enum

SUITE_ID = "ristretto255-SHA512"

ELEMENT_SIZE = 32  # Ne: a compressed ristretto255 element
SCALAR_SIZE = 32  # Ns: a little-endian scalar modulo the group order
PROOF_SIZE = 64  # two scalars, c || s
OUTPUT_SIZE = 64  # Nh: SHA-512
SEED_SIZE = 32  # Nseed, the DeriveKeyPair seed length

# The prime order of the ristretto255 group (RFC 9496 section 4.1).
GROUP_ORDER = 2**252 + 27742317777372353535851937790883648493


class Mode(enum.IntEnum):
    """Protocol variants (RFC 9497 section 3, Table 1); POPRF (0x02) is not implemented."""

    OPRF = 0
    VOPRF = 1
