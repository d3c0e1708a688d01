"""Reading the fields of a registry response: a missing or mistyped member raises
``KeyError``/``TypeError``, which each model's ``from_json`` turns into an
:class:`~lender_client.errors.UnexpectedResponseError`."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

__all__ = ["enum_or_str", "money_map", "parse_timestamp", "required"]

_E = TypeVar("_E", bound=enum.StrEnum)
_T = TypeVar("_T")


def enum_or_str(kind: type[_E], value: str) -> _E | str:
    # A value this client does not know yet (a newer server) is kept as a plain string.
    try:
        return kind(value)
    except ValueError:
        return value


def required(data: Mapping[str, Any], key: str, kind: type[_T]) -> _T:
    if key not in data:
        raise KeyError(f"missing {key!r}")
    value = data[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise TypeError(f"{key!r} should be {kind.__name__}, got {type(value).__name__}")
    return value


def parse_timestamp(value: Any) -> datetime:
    if not isinstance(value, str):
        raise TypeError(f"timestamp should be a string, got {type(value).__name__}")
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def money_map(data: Mapping[str, Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for currency, amount in data.items():
        if isinstance(amount, bool) or not isinstance(amount, int):
            raise TypeError(f"amount for {currency!r} should be int")
        out[str(currency)] = amount
    return out
