"""The consortium pepper: the 32-byte secret of the inner layer of every token, shared by the
member lenders and never seen by the registry.

:class:`Pepper` holds it (its ``repr`` shows a fingerprint, never the secret);
:func:`load_pepper` reads it from a value, a file or the environment; :func:`check_pepper`
refuses a pepper whose fingerprint is not the one the registry publishes.
"""

from __future__ import annotations

import hmac
import logging
import os
import stat
from pathlib import Path
from typing import Any

from lender_client.errors import ConfigurationError
from registry_protocol.pepper import PEPPER_SIZE, pepper_fingerprint, pepper_mac
from registry_protocol.pepper import inner_token_input as _protocol_inner_input

__all__ = [
    "PEPPER_ENV",
    "PEPPER_FILE_ENV",
    "PEPPER_NEXT_ENV",
    "PEPPER_NEXT_FILE_ENV",
    "Pepper",
    "check_pepper",
    "inner_token_input",
    "load_pepper",
]

log = logging.getLogger("lender_client")

PEPPER_ENV = "REGISTRY_PEPPER"
PEPPER_FILE_ENV = "REGISTRY_PEPPER_FILE"
PEPPER_NEXT_ENV = "REGISTRY_PEPPER_NEXT"
PEPPER_NEXT_FILE_ENV = "REGISTRY_PEPPER_NEXT_FILE"
_HEX = frozenset("0123456789abcdefABCDEF")


class Pepper:
    """The 32-byte consortium secret of the inner layer. Its ``repr`` and ``str`` show a
    fingerprint (a one-way function of it, to tell two peppers apart), never the secret.

    >>> Pepper.from_hex("00" * 32)
    Pepper(fingerprint='...')  # doctest: +ELLIPSIS
    """

    __slots__ = ("_secret",)

    def __init__(self, secret: bytes) -> None:
        if not isinstance(secret, bytes | bytearray) or len(secret) != PEPPER_SIZE:
            raise ConfigurationError(f"a pepper is exactly {PEPPER_SIZE} bytes")
        self._secret = bytes(secret)

    @classmethod
    def from_hex(cls, text: str, what: str = "the pepper") -> Pepper:
        """From 64 hexadecimal characters (surrounding white space is ignored)."""
        value = text.strip()
        if len(value) != 2 * PEPPER_SIZE or not set(value) <= _HEX:
            # Never echo the value: it may be a (mistyped) secret.
            raise ConfigurationError(
                f"{what} must be {2 * PEPPER_SIZE} hexadecimal characters "
                f"({PEPPER_SIZE} bytes), got {len(value)} characters"
                + ("" if set(value) <= _HEX else " that are not all hexadecimal")
            )
        return cls(bytes.fromhex(value))

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], what: str = "the pepper file") -> Pepper:
        """From a file holding the 64 hexadecimal characters (and perhaps a newline)."""
        location = Path(path).expanduser()
        try:
            with location.open("rb") as handle:
                mode = os.fstat(handle.fileno()).st_mode
                data = handle.read(4096)
        except OSError as exc:
            raise ConfigurationError(
                f"cannot read {what} {str(location)!r}: {exc.strerror or exc}"
            ) from None
        if stat.S_ISREG(mode) and mode & 0o077:
            log.warning(
                "%s %s can be read by other users (mode %o); chmod 600 it",
                what,
                location,
                stat.S_IMODE(mode),
            )
        try:
            text = data.decode("ascii")
        except UnicodeDecodeError:
            raise ConfigurationError(
                f"{what} {str(location)!r} must hold 64 hexadecimal characters"
            ) from None
        return cls.from_hex(text, f"{what} {str(location)!r}")

    def mac(self, message: bytes) -> bytes:
        """HMAC-SHA256 of ``message`` under the pepper."""
        return pepper_mac(self._secret, message)

    @property
    def fingerprint(self) -> str:
        """16 hex characters that identify the pepper without revealing it."""
        return pepper_fingerprint(self._secret)

    def __repr__(self) -> str:
        return f"Pepper(fingerprint={self.fingerprint!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Pepper):
            return NotImplemented
        return hmac.compare_digest(self._secret, other._secret)

    def __hash__(self) -> int:
        return hash(self.fingerprint)

    def __reduce__(self) -> Any:
        raise TypeError("a Pepper is not picklable (it would write the secret out)")


def load_pepper(
    value: Pepper | str | bytes | os.PathLike[str] | None,
    *,
    next_pepper: bool = False,
) -> Pepper | None:
    """The pepper from an explicit value or, for ``None``, the environment.

    ``value`` may be a :class:`Pepper`, 32 raw bytes, 64 hex characters (``str``) or the path
    of a file holding them (:class:`os.PathLike`). ``None`` reads ``$REGISTRY_PEPPER`` (hex)
    or ``$REGISTRY_PEPPER_FILE`` (a path); with ``next_pepper``, ``$REGISTRY_PEPPER_NEXT`` or
    ``$REGISTRY_PEPPER_NEXT_FILE``. Returns ``None`` when nothing is configured.
    """
    if isinstance(value, Pepper):
        return value
    if isinstance(value, bytes | bytearray):
        return Pepper(bytes(value))
    if isinstance(value, str):
        return Pepper.from_hex(value, "the next pepper" if next_pepper else "the pepper")
    if value is not None:
        return Pepper.from_file(value)
    hex_var, file_var = (
        (PEPPER_NEXT_ENV, PEPPER_NEXT_FILE_ENV) if next_pepper else (PEPPER_ENV, PEPPER_FILE_ENV)
    )
    hex_value = os.environ.get(hex_var, "").strip()
    file_value = os.environ.get(file_var, "").strip()
    if hex_value and file_value:
        raise ConfigurationError(f"set {hex_var} or {file_var}, not both")
    if hex_value:
        return Pepper.from_hex(hex_value, f"${hex_var}")
    if file_value:
        return Pepper.from_file(file_value, f"the file named by ${file_var}")
    return None


def inner_token_input(pepper: Pepper, kind: str, canonical: str) -> bytes:
    """The inner layer: ``HMAC-SHA256(pepper, "<kind>:<canonical>")``, the VOPRF input."""
    return _protocol_inner_input(pepper._secret, kind, canonical)


def check_pepper(pepper: Pepper, expected: str | None, which: str) -> None:
    """Refuse a pepper whose fingerprint is not the one the registry publishes: its tokens
    would be well-formed and match nobody, silently."""
    if expected is not None and not hmac.compare_digest(pepper.fingerprint, expected):
        raise ConfigurationError(
            f"the {which} pepper configured here (fingerprint {pepper.fingerprint}) is not the "
            f"consortium's {which} pepper (fingerprint {expected}, as the registry publishes "
            "it). Its tokens would match nobody; get the right pepper from the consortium "
            "(after a pepper rotation, the new one replaces REGISTRY_PEPPER)."
        )
