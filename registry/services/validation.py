"""Pydantic validation errors as field errors named by JSON path (`loans[3].due_on`)."""

from __future__ import annotations

from pydantic import ValidationError

from registry.services.errors import FieldError

_MESSAGES = {"extra_forbidden": "unknown field", "missing": "required"}


def json_path(loc: tuple[int | str, ...], prefix: str = "") -> str:
    path = prefix
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else part)
    return path or "(body)"


def field_errors(exc: ValidationError, prefix: str = "") -> list[FieldError]:
    return [
        FieldError(
            json_path(tuple(err["loc"]), prefix),
            _MESSAGES.get(err["type"], str(err["msg"]).removeprefix("Value error, ")),
        )
        for err in exc.errors(include_url=False)
    ]
