"""Exceptions raised by the lender client.

Every error the client raises for a failed call is a :class:`RegistryError`. Errors that come
from an HTTP response carry the status, the parsed RFC 9457 problem document (when the server
sent one) and the request id, so that a failure can be quoted to the registry operator.

The class tells what kind of failure it was::

    RegistryError
    ├── ConfigurationError        bad or missing settings (no API key, bad URL)
    ├── APIConnectionError        the server could not be reached, or did not answer in time
    │   └── APITimeoutError
    ├── UntrustedKeyError         the registry's token key is not the one pinned (or is new)
    ├── UnexpectedResponseError   the server answered with something the client cannot read
    │   └── TokenVerificationError    a token evaluation whose proof does not verify
    └── APIStatusError            the server answered with an error status
        ├── AuthenticationError       401
        ├── PermissionDeniedError     403 (e.g. the lender is suspended)
        ├── NotFoundError             404
        │   └── AlreadyRetractedError     a retried retraction found the loan gone
        ├── ConflictError             409 (idempotency key reused with another body)
        ├── ValidationError           400, 413, 415, 422 (``.field_errors``)
        ├── RateLimitError            429 (``.retry_after``)
        │   └── TokenQuotaExceededError   the daily quota of token evaluations is used up
        └── ServerError               5xx

No message, ``str()`` or ``repr()`` of these exceptions ever contains the API key, the pepper
or a borrower's ID.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from lender_client.models import UploadSummary

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AlreadyRetractedError",
    "AuthenticationError",
    "ConfigurationError",
    "ConflictError",
    "FieldError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "RegistryError",
    "ServerError",
    "TokenQuotaExceededError",
    "TokenVerificationError",
    "UnexpectedResponseError",
    "UntrustedKeyError",
    "ValidationError",
    "error_from_response",
]

# Problem types the server uses (the `type` member of a problem document).
PROBLEM_IDEMPOTENCY_IN_PROGRESS = "/problems/idempotency-in-progress"
PROBLEM_IDEMPOTENCY_CONFLICT = "/problems/idempotency-conflict"
PROBLEM_TOKEN_QUOTA_EXCEEDED = "/problems/token-quota-exceeded"  # noqa: S105 - a problem type, not a secret

_RECORD_PREFIX = re.compile(r"^loans\[\d+\]\.?")


class FieldError(NamedTuple):
    """One problem with one field, as ``(field, message)``."""

    field: str
    message: str

    @property
    def record_field(self) -> str:
        """The field name without the ``loans[<i>].`` prefix the server puts on batch errors."""
        return _RECORD_PREFIX.sub("", self.field)


class RegistryError(Exception):
    """Base class of every error raised by the lender client."""

    def __init__(
        self,
        message: str,
        status: int | None = None,
        problem: Mapping[str, Any] | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.problem: dict[str, Any] | None = dict(problem) if problem is not None else None
        self.request_id = request_id
        #: For an error raised part-way through :meth:`RegistryClient.report_loans`: what the
        #: batches sent before it achieved. ``None`` otherwise.
        self.partial_summary: UploadSummary | None = None
        #: How many times the request was sent before this answer (1 unless it was retried).
        self.attempts = 1

    @property
    def problem_type(self) -> str | None:
        """The ``type`` of the problem document, e.g. ``"/problems/validation"``."""
        value = self.problem.get("type") if self.problem else None
        return value if isinstance(value, str) else None

    @property
    def title(self) -> str | None:
        value = self.problem.get("title") if self.problem else None
        return value if isinstance(value, str) else None

    @property
    def detail(self) -> str | None:
        value = self.problem.get("detail") if self.problem else None
        return value if isinstance(value, str) else None

    @property
    def field_errors(self) -> list[FieldError]:
        """The ``errors`` member of the problem document as ``(field, message)`` pairs."""
        return _field_errors(self.problem)

    def __str__(self) -> str:
        parts: list[str] = []
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        parts.append(self.message)
        text = ": ".join(parts)
        errors = self.field_errors
        if errors:
            shown = "; ".join(f"{e.field}: {e.message}" for e in errors[:5])
            more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
            text += f" [{shown}{more}]"
        if self.request_id:
            text += f" (request id {self.request_id})"
        return text

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(message={self.message!r}, status={self.status!r}, "
            f"request_id={self.request_id!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep the exception picklable (e.g. across multiprocessing) despite the keyword state.
        return (type(self), (self.message, self.status, self.problem, self.request_id))


class ConfigurationError(RegistryError):
    """The client was set up wrongly: no API key, an unusable base URL, a bad option.

    ``setting`` names what is missing, when it is a setting the caller gives (``"pepper"``,
    ``"next_pepper"``), so that a front end (the ``lender-client`` command) can say how to
    give it in its own words; ``None`` otherwise.
    """

    def __init__(
        self,
        message: str,
        status: int | None = None,
        problem: Mapping[str, Any] | None = None,
        request_id: str | None = None,
        *,
        setting: str | None = None,
    ) -> None:
        super().__init__(message, status, problem, request_id)
        self.setting = setting

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            type(self),
            (self.message, self.status, self.problem, self.request_id),
            {"setting": self.setting},
        )


class APIConnectionError(RegistryError):
    """The request did not get an HTTP answer: connection refused, DNS failure, reset, timeout.

    Raised only after the client's retries are used up.
    """


class APITimeoutError(APIConnectionError):
    """The server did not answer within the client's timeout."""


class UnexpectedResponseError(RegistryError):
    """The server answered successfully but with a body the client cannot understand."""


class TokenVerificationError(UnexpectedResponseError):
    """The registry's answer to a token evaluation does not prove that it used the pinned
    key (the batched DLEQ proof does not verify, or the evaluated elements are malformed).

    No token from that answer is used. Either the answer was damaged or tampered with on the
    way, or the registry is not evaluating with the key it publishes: tell the operator.
    """


class UntrustedKeyError(RegistryError):
    """The registry presents a token key this client has not been told to trust.

    Either ``key_id`` is new (a key rotation, or a first use with ``trust_new_keys``
    off after the pin store was filled), or the registry now gives another public key for a
    ``key_id`` already pinned (``pinned_public_key`` is then the pinned one). Check the key
    with the consortium out of band, then call
    :meth:`~lender_client.RegistryClient.trust_key` (``lender-client trust-key``).
    """

    def __init__(
        self,
        message: str,
        key_id: str = "",
        public_key: str = "",
        pinned_public_key: str | None = None,
        role: str = "",
    ) -> None:
        super().__init__(message)
        self.key_id = key_id
        self.public_key = public_key
        self.pinned_public_key = pinned_public_key
        #: ``"current"`` or ``"next"`` (the next key of a rotation window), when known.
        self.role = role

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            type(self),
            (self.message, self.key_id, self.public_key, self.pinned_public_key, self.role),
        )


class APIStatusError(RegistryError):
    """The server answered with an error status (4xx or 5xx)."""

    status: int


class AuthenticationError(APIStatusError):
    """401: the API key is missing, unknown or revoked."""


class PermissionDeniedError(APIStatusError):
    """403: the key is valid but the lender may not do this (for example it is suspended)."""


class NotFoundError(APIStatusError):
    """404: no such resource, or not one of the caller's."""


class AlreadyRetractedError(NotFoundError):
    """404 to a retraction that was retried: an earlier attempt got no answer (a dropped
    connection, a timeout, a 5xx), and the retry found no such loan. Most likely the earlier
    attempt retracted it and its answer was lost; else there was no such loan to begin with.
    Either way the registry holds no loan under that reference now."""


class ConflictError(APIStatusError):
    """409: the idempotency key was used before with another body. Not retried: the same
    request would get the same answer."""

    @property
    def in_progress(self) -> bool:
        """Whether the problem type says "still in progress". The registry never sends it
        (it answers a reused key at once); kept for callers that test it."""
        return self.problem_type == PROBLEM_IDEMPOTENCY_IN_PROGRESS


class ValidationError(APIStatusError):
    """400, 413, 415 or 422: the request was refused as it is; see :attr:`field_errors`."""


class RateLimitError(APIStatusError):
    """429: too many requests. :attr:`retry_after` is the server's hint in seconds, if any."""

    def __init__(
        self,
        message: str,
        status: int | None = None,
        problem: Mapping[str, Any] | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status, problem, request_id)
        self.retry_after = retry_after

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            type(self),
            (self.message, self.status, self.problem, self.request_id, self.retry_after),
        )


class TokenQuotaExceededError(RateLimitError):
    """429 ``/problems/token-quota-exceeded``: the lender's daily quota of evaluated token
    elements is used up. :attr:`retry_after` says when it is renewed (seconds). The client
    retries by itself only when that wait is within its ``max_retry_after``."""


class ServerError(APIStatusError):
    """5xx: the registry failed. Retried by the client before this is raised."""


_BY_STATUS: dict[int, type[APIStatusError]] = {
    400: ValidationError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    413: ValidationError,
    415: ValidationError,
    422: ValidationError,
    429: RateLimitError,
}


def _field_errors(problem: Mapping[str, Any] | None) -> list[FieldError]:
    if not problem:
        return []
    raw = problem.get("errors")
    if not isinstance(raw, list):
        return []
    out: list[FieldError] = []
    for item in raw:
        if isinstance(item, Mapping):
            out.append(FieldError(str(item.get("field") or ""), str(item.get("message") or "")))
    return out


def error_from_response(
    status: int,
    problem: Mapping[str, Any] | None,
    *,
    request_id: str | None = None,
    retry_after: float | None = None,
    body_text: str | None = None,
) -> APIStatusError:
    """Build the exception for an error response.

    ``problem`` is the decoded problem document, or ``None`` when the body was not one (for
    example an HTML page from a proxy); ``body_text`` then gives a short excerpt for the
    message. The request id comes from the ``X-Request-ID`` header when given, else from the
    problem document.
    """
    if request_id is None and problem is not None:
        rid = problem.get("request_id")
        request_id = rid if isinstance(rid, str) else None

    title = problem.get("title") if problem is not None else None
    detail = problem.get("detail") if problem is not None else None
    pieces = [p for p in (title, detail) if isinstance(p, str) and p]
    if len(pieces) == 2 and pieces[0].rstrip(".") == pieces[1].rstrip("."):
        pieces = pieces[:1]
    if pieces:
        message = " - ".join(pieces)
    elif body_text:
        excerpt = " ".join(body_text.split())
        message = excerpt[:200] + ("..." if len(excerpt) > 200 else "")
    else:
        message = _default_message(status)

    cls: type[APIStatusError]
    if status in _BY_STATUS:
        cls = _BY_STATUS[status]
    elif status >= 500:
        cls = ServerError
    else:
        cls = APIStatusError
    if cls is RateLimitError:
        if problem is not None and problem.get("type") == PROBLEM_TOKEN_QUOTA_EXCEEDED:
            if retry_after is not None:
                message += f" (the quota is renewed in {_duration(retry_after)})"
            return TokenQuotaExceededError(
                message, status, problem, request_id, retry_after=retry_after
            )
        return RateLimitError(message, status, problem, request_id, retry_after=retry_after)
    return cls(message, status, problem, request_id)


def _duration(seconds: float) -> str:
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"


def _default_message(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "error response"
