"""Sealing small secrets with AES-GCM under a key derived from the registry's secret key.

One key per purpose: HKDF-SHA256 (no salt) of the secret key with the purpose label as its
info, so that a blob sealed for one purpose cannot be opened as another. A sealed blob is
the 12-byte random nonce followed by the ciphertext and its 16-byte tag; `aad` (associated
data, not secret) must be the same to open it. Used for operators' TOTP secrets (stored) and
for a new API key waiting to be shown once (held with the browser session).
"""

from __future__ import annotations

import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NONCE_SIZE = 12


def derive_key(secret_key: str, purpose: bytes) -> bytes:
    """A 32-byte key for `purpose` (e.g. b"registry operator totp v1")."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(
        secret_key.encode()
    )


def seal(secret_key: str, purpose: bytes, plain: bytes, aad: bytes) -> bytes:
    nonce = secrets.token_bytes(NONCE_SIZE)
    return nonce + AESGCM(derive_key(secret_key, purpose)).encrypt(nonce, plain, aad)


def open_sealed(secret_key: str, purpose: bytes, sealed: bytes, aad: bytes) -> bytes | None:
    """The plain bytes, or None when the blob was not sealed with this key, purpose and
    `aad` (or was altered)."""
    if len(sealed) <= NONCE_SIZE:
        return None
    try:
        return AESGCM(derive_key(secret_key, purpose)).decrypt(
            sealed[:NONCE_SIZE], sealed[NONCE_SIZE:], aad
        )
    except InvalidTag:
        return None
