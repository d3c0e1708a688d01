"""Request parsing shared by the routes: JSON bodies and pydantic models, as problems."""

from __future__ import annotations

import re
from typing import Any, TypeVar

from flask import request
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import BadRequest

from registry.problems import Problem, invalid
from registry.services.errors import FieldError
from registry.services.validation import field_errors

M = TypeVar("M", bound=BaseModel)


_IDEMPOTENCY_KEY = re.compile(r"[\x20-\x7e]{1,255}")


def idempotency_key() -> str | None:
    """The request's Idempotency-Key header, if any, or a 400 problem when malformed."""
    key = request.headers.get("Idempotency-Key")
    if key is not None and not _IDEMPOTENCY_KEY.fullmatch(key):
        raise Problem(
            400,
            "Idempotency-Key must be 1 to 255 printable ASCII characters",
            errors=[FieldError("headers.Idempotency-Key", "1 to 255 printable ASCII characters")],
        )
    return key


def json_body() -> Any:
    """The parsed JSON body, or a 415/400 problem."""
    if not request.is_json:
        raise Problem(415, "send the body as JSON with 'Content-Type: application/json'")
    if request.content_encoding not in (None, "", "identity"):
        raise Problem(415, "send the body uncompressed (no Content-Encoding)")
    try:
        return request.get_json()
    except BadRequest:
        raise Problem(400, "the body is not valid JSON") from None
    except RecursionError:
        raise Problem(400, "the body is nested too deeply") from None


def parse_model(model: type[M], data: Any) -> M:
    if not isinstance(data, dict):
        raise invalid([FieldError("(body)", "must be a JSON object")])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid(field_errors(exc)) from None
