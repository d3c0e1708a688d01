"""RFC 9457 problem details, and what every HTTP layer shares about errors.

The API answers every error with a problem document (stable `type`s); the console renders
HTML pages for people but takes the same decisions from here: the title of a status, the
headers an error must carry (`Allow` on a 405), and which layer answers a routing error.
No blueprint is imported here, so the console and the API both depend on this module and
not on each other."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from flask import Flask, Response, current_app, g, json, request
from werkzeug.exceptions import HTTPException

from registry.services.errors import FieldError

PROBLEM_MEDIA_TYPE = "application/problem+json"

# slug -> title. A slug, once published, never changes meaning.
PROBLEM_TITLES = {
    "malformed-request": "Malformed request",
    "unauthenticated": "Authentication required",
    "forbidden": "Forbidden",
    "not-found": "Not found",
    "method-not-allowed": "Method not allowed",
    "idempotency-conflict": "Idempotency key reused with a different request",
    "outcome-conflict": "The application already has another outcome",
    "dispute-conflict": "The dispute is answered already, or open with another reason",
    "payload-too-large": "Request body too large",
    "unsupported-media-type": "Unsupported media type",
    "validation": "Invalid request",
    "rate-limited": "Too many requests",
    "invalid-element": "Invalid blinded element",
    "token-quota-exceeded": "Daily token quota exceeded",
    "quota-exceeded": "Quota exceeded",
    "reciprocity": "Give to get: report your loans first",
    "tokens-unavailable": "Tokenisation is not available yet",
    "no-rotation-window": "No token rotation window is open",
    "internal": "Internal error",
    "unavailable": "Service unavailable",
    "insufficient-storage": "Insufficient storage",
    "http-error": "HTTP error",
}

_SLUG_BY_STATUS = {
    400: "malformed-request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "idempotency-conflict",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "validation",
    429: "rate-limited",
    500: "internal",
    503: "unavailable",
    507: "insufficient-storage",
}


def status_title(status: int) -> str:
    """The problem title of an HTTP status ("Not found", "Method not allowed", ...)."""
    return PROBLEM_TITLES.get(_SLUG_BY_STATUS.get(status, ""), "Error")


def error_headers(exc: HTTPException) -> dict[str, str]:
    """Headers an HTTP error must carry whoever renders it: `Allow` on a 405."""
    valid_methods = getattr(exc, "valid_methods", None)
    if exc.code == 405 and valid_methods:
        return {"Allow": ", ".join(valid_methods)}
    return {}


class Problem(Exception):
    """Raise from a route to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        slug: str | None = None,
        errors: Iterable[FieldError] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.slug = slug or _SLUG_BY_STATUS.get(status, "http-error")
        self.errors = list(errors)
        self.headers = dict(headers or {})

    def to_response(self) -> Response:
        body: dict[str, Any] = {
            "type": f"/problems/{self.slug}",
            "title": PROBLEM_TITLES.get(self.slug, "Error"),
            "status": self.status,
            "detail": self.detail,
            "instance": request.path,
            "request_id": g.get("request_id"),
        }
        if self.errors:
            body["errors"] = [{"field": e.field, "message": e.message} for e in self.errors]
        response = current_app.response_class(
            json.dumps(body), status=self.status, mimetype=PROBLEM_MEDIA_TYPE
        )
        response.headers.update(self.headers)
        return response


def http_problem(exc: HTTPException) -> Problem:
    """The problem document for an HTTP error raised by Flask or Werkzeug (or `abort`)."""
    status = exc.code or 500
    detail = exc.description or status_title(status)
    if status == 413:
        limit = current_app.config.get("MAX_CONTENT_LENGTH")
        detail = f"the request body exceeds the limit of {limit} bytes"
    return Problem(status, detail, headers=error_headers(exc))


def invalid(errors: list[FieldError], detail: str = "the request is invalid") -> Problem:
    return Problem(422, detail, "validation", errors)


def init_app(app: Flask) -> None:
    @app.errorhandler(Problem)
    def _problem(problem: Problem) -> Response:
        return problem.to_response()

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        return http_problem(exc).to_response()

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        # Never a stack trace to the caller: the log line carries it, with the request id.
        current_app.logger.exception("unhandled error")
        return Problem(
            500, "an internal error occurred; quote the request_id to the operator"
        ).to_response()
