"""Lender authentication for the `/v1` API: `Authorization: Bearer <api key>`.

`lender_required` reads the key and its lender on every request. `lender_required_cached`
(the inquiry's hot path) answers from the worker's copy of them for up to
`REGISTRY_CACHE_SECONDS` (`registry.hot_cache`): the route gets a detached copy of the lender
to read, never to change.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from flask import g, request
from sqlalchemy import inspect

from registry.extensions import db
from registry.hot_cache import caches
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


def _presented_key() -> str:
    scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not presented.strip():
        raise Problem(401, "send the API key as 'Authorization: Bearer <key>'", headers=_CHALLENGE)
    return presented.strip()


def _authenticate(presented: str) -> Lender:
    try:
        return lenders.authenticate(db(), presented)
    except AuthenticationFailed as exc:
        raise Problem(401, f"{exc}", headers=_CHALLENGE) from None
    except LenderSuspended as exc:
        raise Problem(403, f"{exc}; contact the registry operator") from None


def _detached_copy(lender: Lender) -> Lender:
    """The lender's column values in an object of no session, safe to share between threads."""
    columns = inspect(Lender).column_attrs
    return Lender(**{column.key: getattr(lender, column.key) for column in columns})


def _authorise(lender: Lender) -> None:
    g.lender = lender
    g.lender_code = lender.code


def lender_required(view: Callable[P, R]) -> Callable[P, R]:
    @wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        _authorise(_authenticate(_presented_key()))
        return view(*args, **kwargs)

    return wrapper


def lender_required_cached(view: Callable[P, R]) -> Callable[P, R]:
    """As `lender_required`, from the worker's copy when it has a fresh one. Only a key that
    authenticated is kept (by its hash): a refused one is checked again every time."""

    @wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        presented = _presented_key()
        digest = hashlib.sha256(presented.encode()).digest()
        lender = caches().lenders.get(digest, lambda: _detached_copy(_authenticate(presented)))
        _authorise(lender)
        return view(*args, **kwargs)

    return wrapper
