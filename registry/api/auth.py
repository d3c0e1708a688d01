"""Lender authentication for the `/v1` API: `Authorization: Bearer <api key>`."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from flask import g, request

from registry.extensions import db
from registry.models import Lender
from registry.problems import Problem
from registry.services import lenders
from registry.services.errors import AuthenticationFailed, LenderSuspended

P = ParamSpec("P")
R = TypeVar("R")

_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="registry"'}


def current_lender() -> Lender:
    lender: Lender = g.lender
    return lender


def lender_required(view: Callable[P, R]) -> Callable[P, R]:
    @wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            raise Problem(
                401, "send the API key as 'Authorization: Bearer <key>'", headers=_CHALLENGE
            )
        try:
            lender = lenders.authenticate(db(), presented.strip())
        except AuthenticationFailed as exc:
            raise Problem(401, f"{exc}", headers=_CHALLENGE) from None
        except LenderSuspended as exc:
            raise Problem(403, f"{exc}; contact the registry operator") from None
        g.lender = lender
        g.lender_code = lender.code
        return view(*args, **kwargs)

    return wrapper
