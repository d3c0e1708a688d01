"""The registry's OPRF secret keys, and the only code that touches them.

Keys live outside the database: one file per key id in a directory only the registry's user
may read (`REGISTRY_OPRF_KEY_DIR`), or given whole by `REGISTRY_OPRF_KEYS`
(`key_id:secret_hex[,key_id:secret_hex]`). Nothing here logs, returns or raises a secret.
The rest of the registry asks this module for public keys and evaluations only, so that the
keys can later move into a separate signer process behind the same three calls.
"""

from __future__ import annotations

import os
import re
import secrets
import stat
import threading
from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path

import rfc9497

KEY_ID_PATTERN = re.compile(r"k[0-9]{8}[0-9a-f]{6}")
_KEY_SUFFIX = ".key"


class SignerError(RuntimeError):
    """A key is missing, unreadable or unsafe. The message never contains key material."""


def new_key_id(today: date) -> str:
    return f"k{today:%Y%m%d}{secrets.token_hex(3)}"


def _key_info(key_id: str) -> bytes:
    # DeriveKeyPair's info binds each key to its id, so two ids never share a key.
    return b"debt-registry borrower tokens " + key_id.encode()


class Signer:
    """Evaluates blinded elements under a named key. Thread-safe."""

    def __init__(self, key_dir: Path | None, env_keys: str = "") -> None:
        self._key_dir = key_dir
        self._keys: dict[str, bytes] = {}
        self._lock = threading.Lock()
        for key_id, secret in _parse_env_keys(env_keys):
            self._keys[key_id] = secret

    def __repr__(self) -> str:
        return f"Signer(key_dir={self._key_dir}, keys={sorted(self._keys)})"

    # -- the three calls the registry makes ------------------------------------------------

    def public_key(self, key_id: str) -> bytes:
        return rfc9497.public_key(self._secret(key_id))

    def evaluate_batch(
        self, key_id: str, blinded_elements: Sequence[bytes]
    ) -> tuple[list[bytes], bytes]:
        """RFC 9497 BlindEvaluateBatch (VOPRF): evaluated elements and one DLEQ proof.
        The elements must already be decoded with `rfc9497.decode_element`."""
        secret = self._secret(key_id)
        return rfc9497.blind_evaluate_batch(secret, rfc9497.public_key(secret), blinded_elements)

    def evaluate(self, key_id: str, private_input: bytes) -> bytes:
        """The PRF output for an input the registry holds itself (an operator's look-up)."""
        return rfc9497.evaluate(self._secret(key_id), private_input, rfc9497.Mode.VOPRF)

    # -- key life cycle (the `registry keys` commands) ------------------------------------

    def create_key(self, today: date) -> tuple[str, bytes]:
        """A new key from a random seed via DeriveKeyPair, written owner-only; returns its id
        and public key."""
        directory = self._writable_dir()
        key_id = new_key_id(today)
        secret, public = rfc9497.derive_key_pair(
            secrets.token_bytes(32), _key_info(key_id), rfc9497.Mode.VOPRF
        )
        path = directory / f"{key_id}{_KEY_SUFFIX}"
        # O_EXCL: never overwrite a key; 0600 from the first byte on disk.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secret.hex() + "\n")
        with self._lock:
            self._keys[key_id] = secret
        return key_id, public

    def destroy_key(self, key_id: str) -> bool:
        """Forget a key and delete its file (overwritten first). True if a file was removed."""
        with self._lock:
            self._keys.pop(key_id, None)
        if self._key_dir is None:
            return False
        path = self._key_dir / f"{key_id}{_KEY_SUFFIX}"
        if not path.exists():
            return False
        size = path.stat().st_size
        with path.open("r+b") as handle:
            handle.write(secrets.token_bytes(size))
            handle.flush()
            os.fsync(handle.fileno())
        path.unlink()
        return True

    def forget_all_but(self, live: Iterable[str]) -> None:
        """Drop keys the database no longer calls live (retired by another process)."""
        keep = set(live)
        with self._lock:
            for key_id in [k for k in self._keys if k not in keep]:
                del self._keys[key_id]

    # -- internals -------------------------------------------------------------------------

    def _secret(self, key_id: str) -> bytes:
        with self._lock:
            secret = self._keys.get(key_id)
        if secret is None:
            secret = self._load(key_id)
            with self._lock:
                self._keys[key_id] = secret
        return secret

    def _load(self, key_id: str) -> bytes:
        if not KEY_ID_PATTERN.fullmatch(key_id):
            raise SignerError(f"malformed key id {key_id!r}")
        if self._key_dir is None:
            raise SignerError(f"key {key_id} is not in REGISTRY_OPRF_KEYS")
        path = self._key_dir / f"{key_id}{_KEY_SUFFIX}"
        try:
            mode = path.stat().st_mode
        except FileNotFoundError:
            raise SignerError(
                f"key {key_id} has no file in {self._key_dir}; is REGISTRY_OPRF_KEY_DIR right?"
            ) from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise SignerError(f"{path} must be readable by its owner only (chmod 600)")
        try:
            secret = bytes.fromhex(path.read_text().strip())
            rfc9497.public_key(secret)  # a well-formed, non-zero scalar
        except ValueError:
            raise SignerError(f"{path} does not hold a valid key") from None
        return secret

    def _writable_dir(self) -> Path:
        if self._key_dir is None:
            raise SignerError("REGISTRY_OPRF_KEY_DIR is not set; new keys need a directory")
        self._key_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        if self._key_dir.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            os.chmod(self._key_dir, 0o700)
        return self._key_dir


def _parse_env_keys(value: str) -> list[tuple[str, bytes]]:
    keys = []
    for item in filter(None, (part.strip() for part in value.split(","))):
        key_id, _, secret_hex = item.partition(":")
        if not KEY_ID_PATTERN.fullmatch(key_id):
            raise SignerError("REGISTRY_OPRF_KEYS: each entry is key_id:secret_hex")
        try:
            secret = bytes.fromhex(secret_hex)
            rfc9497.public_key(secret)
        except ValueError:
            raise SignerError(f"REGISTRY_OPRF_KEYS: the secret of {key_id} is invalid") from None
        keys.append((key_id, secret))
    return keys
