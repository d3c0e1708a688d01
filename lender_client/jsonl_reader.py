"""The JSON Lines reader: one JSON object per line; a line that parses but could not be sent on
as JSON text (a lone surrogate, a number too large, nesting too deep) is a bad line."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from typing import Any

from lender_client.record_reader import BadLine, Format, RecordReader, SourceRecord, not_utf8

__all__ = ["MAX_DEPTH", "JsonLinesReader"]

#: How deeply a JSON Lines record may nest arrays and objects (a record's fields are flat).
MAX_DEPTH = 32

# A JSON escape of a UTF-16 surrogate: paired, it is one character; alone, it is not text.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class JsonLinesReader(RecordReader):
    """Reads one JSON object per line."""

    format: Format = "jsonl"

    def __iter__(self) -> Iterator[SourceRecord | BadLine]:
        for lineno, raw in self._raw_lines():
            if isinstance(raw, str):
                yield BadLine(lineno, raw)
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield BadLine(lineno, not_utf8(exc))
                continue
            if not text.strip():
                continue
            try:
                value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite_float)
            except RecursionError:
                yield BadLine(lineno, "invalid JSON: nested too deeply")
                continue
            except ValueError as exc:
                reason = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
                column = f" at column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else ""
                yield BadLine(lineno, f"invalid JSON: {reason}{column}")
                continue
            if not isinstance(value, dict):
                yield BadLine(lineno, f"expected a JSON object, found {_json_kind(value)}")
                continue
            # Cheap tests on the text first: most lines need no walk over their values.
            surrogates = _SURROGATE_ESCAPE.search(text) is not None
            if surrogates or "[" in text or text.count("{") > 1:
                problem = _unsendable(value, surrogates)
                if problem is not None:
                    name, message = problem
                    ref = value.get("loan_ref")
                    ref = ref if isinstance(ref, str) and _is_text(ref) else None
                    yield BadLine(lineno, message, ref, name)
                    continue
            yield SourceRecord(lineno, value)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        shown = text if len(text) <= 24 else text[:20] + "..."
        raise ValueError(f"the number {shown} is too large")
    return value


def _is_text(value: str) -> bool:
    """Whether ``value`` is Unicode text (holds no lone surrogate), i.e. can be encoded."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _surrogate_problem(value: str) -> str:
    bad = next(c for c in value if "\ud800" <= c <= "\udfff")
    return f"is not valid Unicode text: it holds the unpaired surrogate \\u{ord(bad):04x}"


def _unsendable(record: dict[str, Any], surrogates: bool) -> tuple[str, str] | None:
    """``(field, problem)`` for the first member of ``record`` that could not be sent as JSON
    text, else ``None``. ``surrogates``: whether the line has surrogate escapes, so that its
    strings must be checked. The field is ``""`` when the member's own name is the problem."""
    for name, value in record.items():
        if surrogates and not _is_text(name):
            return "", f"a member name {_surrogate_problem(name)}"
        problem = _value_problem(value, surrogates, 1)
        if problem is not None:
            return name, problem
    return None


def _value_problem(value: Any, surrogates: bool, depth: int) -> str | None:
    if isinstance(value, str):
        return _surrogate_problem(value) if surrogates and not _is_text(value) else None
    if isinstance(value, dict):
        items: list[Any] = [*value.keys(), *value.values()]
    elif isinstance(value, list):
        items = value
    else:
        return None
    if depth > MAX_DEPTH:
        return f"is nested more than {MAX_DEPTH} levels deep"
    for item in items:
        problem = _value_problem(item, surrogates, depth + 1)
        if problem is not None:
            return problem
    return None


def _json_kind(value: Any) -> str:
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str):
        return "a string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    return "a number"
