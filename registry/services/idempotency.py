"""Idempotency keys: a retry with the same key and body gets the first answer back."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def fingerprint(body: Any) -> bytes:
    """A hash of the request's meaning, not its bytes: key order and spacing don't matter.
    ASCII escapes, so that even a lone surrogate in the body hashes instead of crashing."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode()).digest()


REUSED_KEY = "this Idempotency-Key was already used with a different request body"
