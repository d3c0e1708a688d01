"""Idempotency keys: every POST carries one, the same on each of its retries, so that a
retried upload or inquiry is never applied or recorded twice."""

from __future__ import annotations

import re
import sys
import uuid
from collections.abc import Sized

__all__ = [
    "check_idempotency_key",
    "check_key_prefix",
    "key_or_new",
    "new_idempotency_key",
    "retry_key",
]

_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]{0,253}[\x21-\x7e])?")


def new_idempotency_key() -> str:
    """A fresh random idempotency key."""
    return str(uuid.uuid4())


def check_idempotency_key(key: str) -> str:
    if not isinstance(key, str) or not _IDEMPOTENCY_KEY.fullmatch(key):
        raise ValueError(
            "idempotency key must be 1-255 printable ASCII characters, "
            "not starting or ending with a space"
        )
    return key


def key_or_new(key: str | None) -> str:
    """The caller's idempotency key (checked), or a new random one."""
    return new_idempotency_key() if key is None else check_idempotency_key(key)


def check_key_prefix(prefix: str, reports: object, batch_size: int) -> None:
    """Check, before anything is sent, that every key ``f"{prefix}-{n}"`` an upload of
    ``reports`` can use is valid. A stream of unknown length is taken to be as long as any
    sequence can be (``sys.maxsize`` records)."""
    check_idempotency_key(f"{prefix}-0")
    records = len(reports) if isinstance(reports, Sized) else sys.maxsize
    longest = f"{prefix}-{max(records - 1, 0) // batch_size}"
    if len(longest) > 255:
        raise ValueError(
            f"idempotency_key_prefix is too long: with batch_size={batch_size} the key of the "
            f"last batch can be {len(longest)} characters, and a key holds at most 255"
        )


def retry_key(key: str) -> str:
    """The key of a request sent again with another body (tokens refreshed after a rotation
    window closed): derived from the first key, so that a re-run derives it again."""
    suffix = "-next-refreshed"
    return key[: 255 - len(suffix)] + suffix
