"""The registry's token key as ``GET /v1/tokens/key`` describes it: the current key, any open
rotation window, the pepper fingerprints it publishes; and a public key as a person gives it
(``lender-client trust-key``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import rfc9497
from lender_client.errors import UnexpectedResponseError

__all__ = ["MODE", "SUITE", "KeyInfo", "Rotation", "TokenKey", "parse_public_key"]

SUITE = "ristretto255-SHA512"
MODE = "voprf"
_HEX = frozenset("0123456789abcdefABCDEF")


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """One registry evaluation key: its id and its public key (32 bytes)."""

    key_id: str
    public_key: bytes

    @property
    def public_key_hex(self) -> str:
        return self.public_key.hex()


@dataclass(frozen=True, slots=True)
class Rotation:
    """An open rotation window. ``kind == "key"``: tokens move to the ``next`` key (same
    pepper); ``kind == "pepper"``: tokens move to the next pepper (``next`` is the current
    key)."""

    kind: str
    label: str
    opened_at: str | None
    next: KeyInfo
    # The fingerprint of the pepper next tokens are made with, when the registry has one.
    next_pepper_fingerprint: str | None = None


@dataclass(frozen=True, slots=True)
class TokenKey:
    """The answer to ``GET /v1/tokens/key``."""

    suite: str
    mode: str
    current: KeyInfo
    rotation: Rotation | None
    raw: dict[str, Any] = field(repr=False, compare=False)
    # The consortium pepper's fingerprint as the registry's operator recorded it, if any.
    pepper_fingerprint: str | None = None

    @property
    def key_id(self) -> str:
        return self.current.key_id

    @property
    def public_key(self) -> str:
        """The current public key as 64 hex."""
        return self.current.public_key_hex

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TokenKey:
        suite = data.get("suite")
        mode = data.get("mode")
        if suite != SUITE or mode != MODE:
            raise UnexpectedResponseError(
                f"the registry's token key is for suite {suite!r}, mode {mode!r}; this client "
                f"speaks {SUITE!r}, {MODE!r}"
            )
        current = _key_info(data, "the token key")
        rotation: Rotation | None = None
        raw_rotation = data.get("rotation")
        if raw_rotation is not None:
            if not isinstance(raw_rotation, Mapping):
                raise UnexpectedResponseError("the token key's rotation is not an object")
            kind = raw_rotation.get("kind")
            if kind not in ("key", "pepper"):
                raise UnexpectedResponseError(f"unknown kind of token rotation: {kind!r}")
            nxt = raw_rotation.get("next")
            if not isinstance(nxt, Mapping):
                raise UnexpectedResponseError("the token key's rotation has no next key")
            opened = raw_rotation.get("opened_at")
            label = raw_rotation.get("label")
            rotation = Rotation(
                kind=str(kind),
                label=label if isinstance(label, str) else "",
                opened_at=opened if isinstance(opened, str) else None,
                next=_key_info(nxt, "the next token key"),
                next_pepper_fingerprint=_fingerprint(nxt.get("pepper_fingerprint")),
            )
        return cls(
            suite=suite,
            mode=mode,
            current=current,
            rotation=rotation,
            raw=dict(data),
            pepper_fingerprint=_fingerprint(data.get("pepper_fingerprint")),
        )


def _fingerprint(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) != 16 or not set(value) <= _HEX:
        raise UnexpectedResponseError("the token key's pepper fingerprint is not 16 hex")
    return value


def _decode_public_key(value: object, what: str) -> bytes:
    if not isinstance(value, str) or len(value) != 64 or not set(value) <= _HEX:
        raise UnexpectedResponseError(f"{what}: the public key is not 64 hexadecimal characters")
    raw = bytes.fromhex(value)
    try:
        rfc9497.decode_element(raw)
    except rfc9497.OprfError:
        raise UnexpectedResponseError(f"{what}: the public key is not a valid element") from None
    return raw


def _key_info(data: Mapping[str, Any], what: str) -> KeyInfo:
    key_id = data.get("key_id")
    if not isinstance(key_id, str) or not key_id:
        raise UnexpectedResponseError(f"{what} has no key_id")
    return KeyInfo(key_id, _decode_public_key(data.get("public_key"), what))


def parse_public_key(value: str) -> bytes:
    """A public key given by a person (64 hex): ``ValueError`` if it is not a valid one."""
    text = value.strip().lower()
    if len(text) != 64 or not set(text) <= _HEX:
        raise ValueError("a public key is 64 hexadecimal characters")
    raw = bytes.fromhex(text)
    try:
        rfc9497.decode_element(raw)
    except rfc9497.OprfError:
        raise ValueError("not a valid ristretto255 public key") from None
    return raw
