"""Borrower tokens the data set uses, computable both in SQL and in Python.

Borrower number `b` (1, 2, ...) has the token SHA-256("bench-borrower-<b>"), so the load
generator can name existing borrowers without reading a million tokens back.
"""

from __future__ import annotations

import hashlib

BORROWER_PREFIX = "bench-borrower-"
# The same token computed by PostgreSQL for an integer column or expression `b`.
SQL_BORROWER_TOKEN = f"sha256(convert_to('{BORROWER_PREFIX}' || ({{b}})::text, 'UTF8'))"


def borrower_token(number: int) -> bytes:
    return hashlib.sha256(f"{BORROWER_PREFIX}{number}".encode()).digest()


def unknown_token(label: str, number: int) -> bytes:
    """A token no loaded borrower has (the prefix differs)."""
    return hashlib.sha256(f"bench-unknown-{label}-{number}".encode()).digest()


def sql_borrower_token(expression: str) -> str:
    return SQL_BORROWER_TOKEN.format(b=expression)
