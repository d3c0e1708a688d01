"""The operator web console: server-rendered pages under /console.

Views parse and authorise, then call the same services as the API and the CLI; templates
are autoescaped Jinja; the only scripts are static files served from here (no inline
script, no external asset), which a strict Content-Security-Policy enforces.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, g, render_template, request
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import HTTPException

from registry.console import auth, disputes, formatting, lookup, manage, pages
from registry.console.blueprint import bp
from registry.db import UNAVAILABLE_RETRY_AFTER, database_trouble
from registry.problems import error_headers, http_problem, status_title

CONSOLE_PREFIX = "/console"
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}
# The page heading where the console words a status for people differently from the problem
# title (`registry.problems.status_title`, used for every other status).
TITLES = {
    400: "Bad request",
    401: "Sign-in required",
    403: "Not allowed",
    413: "Too large",
    422: "Invalid input",
    500: "Something went wrong",
}

__all__ = ["auth", "disputes", "init_app", "lookup", "manage", "pages"]


def _is_console() -> bool:
    return request.path == CONSOLE_PREFIX or request.path.startswith(CONSOLE_PREFIX + "/")


def error_page(code: int, message: str, headers: dict[str, str] | None = None) -> Response:
    # A failed statement leaves the request's session unusable: the page must not need it.
    failed: Any = g.get("db_session")
    if failed is not None:
        failed.rollback()
    response = Response(
        render_template("console/error.html", code=code, title=_title(code), message=message),
        status=code,
        mimetype="text/html",
        headers=headers,
    )
    return response


def _title(code: int) -> str:
    return TITLES.get(code) or status_title(code)


@bp.errorhandler(HTTPException)
def _console_http_error(exc: HTTPException) -> Response:
    code = exc.code or 500
    message = exc.description if code in (400, 404, 422) else _default_message(code)
    return error_page(code, message or _default_message(code), error_headers(exc))


@bp.errorhandler(SQLAlchemyError)
def _console_database_error(exc: SQLAlchemyError) -> Response:
    """A database outage, a full disk or a read-only file is said as such (503 or 507), as the
    API says it; anything else is an internal error."""
    trouble = database_trouble(exc)
    if trouble is None:
        return _console_unexpected(exc)
    from flask import current_app

    current_app.logger.warning("database trouble on a console page (%d)", trouble.status)
    headers = {"Retry-After": str(UNAVAILABLE_RETRY_AFTER)} if trouble.status == 503 else None
    return error_page(trouble.status, trouble.detail[0].upper() + trouble.detail[1:] + ".", headers)


@bp.errorhandler(Exception)
def _console_unexpected(exc: Exception) -> Response:
    from flask import current_app

    current_app.logger.exception("unhandled console error")
    return error_page(500, f"An internal error occurred (request {g.get('request_id', '-')}).")


def _default_message(code: int) -> str:
    return {
        401: "Please sign in.",
        403: "Your role does not allow this page or action.",
        404: "There is nothing here.",
        405: "This page does not accept that method.",
        429: "Too many attempts; try again later.",
    }.get(code, _title(code))


def security_headers(response: Response) -> Response:
    if _is_console():
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if not request.path.startswith(CONSOLE_PREFIX + "/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
    return response


def _template_context() -> dict[str, Any]:
    return {"operator": g.get("operator")}


# Set up once, at import: the blueprint object is shared by every app made in a process.
bp.context_processor(_template_context)
# Globals (not context): imported macros see them too.
bp.add_app_template_global(auth.csrf_token, "csrf_token")
bp.add_app_template_global(auth.can_open, "can_open")
bp.add_app_template_filter(formatting.utc, "utc")
bp.add_app_template_filter(formatting.money, "money")
bp.add_app_template_filter(formatting.number, "number")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.after_request(security_headers)

    # Routing errors happen before any blueprint is chosen: answer console paths with a
    # page, and everything else with the problem document every HTTP error gets.
    def _routing_error(exc: HTTPException) -> Response:
        if _is_console():
            return _console_http_error(exc)
        return http_problem(exc).to_response()

    app.register_error_handler(404, _routing_error)
    app.register_error_handler(405, _routing_error)
