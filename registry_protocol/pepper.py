"""The inner layer of a borrower token: HMAC-SHA256 under the consortium pepper.

A token is ``VOPRF(HMAC-SHA256(pepper, token_input(kind, canonical ID)))``: the pepper keeps
the registry, which evaluates the VOPRF, from testing candidate IDs itself. Every lender and
an operator's look-up by ID must compute this layer identically, hence it lives here.

A fingerprint tells two peppers apart without revealing either: the registry publishes the
consortium pepper's, and the SDK refuses a pepper that does not match.
"""

from __future__ import annotations

import hashlib
import hmac

from registry_protocol.ids import token_input

__all__ = [
    "FINGERPRINT_LENGTH",
    "PEPPER_SIZE",
    "inner_token_input",
    "pepper_fingerprint",
    "pepper_mac",
]

PEPPER_SIZE = 32
FINGERPRINT_LENGTH = 16
# The label is part of the protocol: changing it changes every published fingerprint.
_FINGERPRINT_LABEL = b"lender-client pepper fingerprint v1"


def pepper_mac(pepper: bytes, message: bytes) -> bytes:
    """HMAC-SHA256 of ``message`` under the 32-byte ``pepper``."""
    if len(pepper) != PEPPER_SIZE:
        raise ValueError(f"a pepper is exactly {PEPPER_SIZE} bytes")
    return hmac.new(pepper, message, hashlib.sha256).digest()


def inner_token_input(pepper: bytes, kind: str, canonical_value: str) -> bytes:
    """The VOPRF input of an ID: ``HMAC-SHA256(pepper, "<kind>:<canonical value>")``.
    ``canonical_value`` must come from :func:`registry_protocol.ids.normalize_id`."""
    return pepper_mac(pepper, token_input(kind, canonical_value))


def pepper_fingerprint(pepper: bytes) -> str:
    """16 lowercase hex characters that identify ``pepper`` without revealing it."""
    return pepper_mac(pepper, _FINGERPRINT_LABEL).hex()[:FINGERPRINT_LENGTH]
