"""Request parsing shared by the routes: JSON bodies and pydantic models, as problems."""

from __future__ import annotations

from typing import Any, TypeVar

from flask import request
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import BadRequest

from registry.api.problems import Problem, invalid
from registry.services.errors import FieldError
from registry.services.validation import field_errors

M = TypeVar("M", bound=BaseModel)


def json_body() -> Any:
    """The parsed JSON body, or a 415/400 problem."""
    if not request.is_json:
        raise Problem(415, "send the body as JSON with 'Content-Type: application/json'")
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
