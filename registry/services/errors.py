"""Failures a service reports; the HTTP layer maps each to a problem response."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str


class ServiceError(Exception):
    """Base class: `str(error)` is safe to show to the caller."""


class NotFound(ServiceError):
    pass


class Conflict(ServiceError):
    pass


class AuthenticationFailed(ServiceError):
    pass


class LenderSuspended(ServiceError):
    pass


class NotPermitted(ServiceError):
    """The caller may not do this (as opposed to: the input is malformed)."""


class InvalidInput(ServiceError):
    def __init__(self, message: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []
