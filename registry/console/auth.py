"""Console access: login, logout, the server-side session, roles and CSRF.

The signed Flask cookie (HttpOnly, SameSite=Lax, Secure in production) carries only the
session token, the CSRF token and flash messages; `services.operators` decides whether the
session is still valid (8 hours at most, 30 minutes idle, not logged out, operator active).
"""

from __future__ import annotations

import hmac
import re
import secrets
from collections.abc import Callable
from functools import wraps
from typing import ParamSpec
from urllib.parse import urlsplit

from flask import abort, current_app, flash, g, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

from registry.console.blueprint import bp
from registry.db import transaction
from registry.extensions import db, now, state
from registry.models import Operator, OperatorRole
from registry.services import audit, operators

P = ParamSpec("P")

ADMIN = OperatorRole.ADMIN.value
ANALYST = OperatorRole.ANALYST.value
AUDITOR = OperatorRole.AUDITOR.value
ALL_ROLES = (ADMIN, ANALYST, AUDITOR)
# Where `roles` keeps a view's declaration (method, or "*" for any, -> roles).
ROLES_ATTRIBUTE = "console_roles"


def current_operator() -> Operator:
    operator: Operator | None = g.get("operator")
    if operator is None:
        abort(401)
    return operator


def actor() -> audit.Actor:
    return audit.Actor.operator(
        current_operator().username, request.remote_addr, g.get("request_id")
    )


def csrf_token() -> str:
    """This browser session's CSRF token (made on first use, renewed at login)."""
    token = session.get("csrf")
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def can_open(endpoint: str, method: str = "GET") -> bool:
    """Whether the signed-in operator may send `method` to `endpoint`, read from the roles its
    view declared with :func:`roles` (the navigation and the templates ask this)."""
    operator: Operator | None = g.get("operator")
    view = current_app.view_functions.get(endpoint)
    declared: dict[str, tuple[str, ...]] | None = getattr(view, ROLES_ATTRIBUTE, None)
    if operator is None or declared is None:
        return False
    return operator.role in declared.get(method.upper(), declared["*"])


def roles(
    *allowed: str,
    post: tuple[str, ...] | None = None,
    others_to: str | None = None,
) -> Callable[[Callable[P, ResponseReturnValue]], Callable[P, ResponseReturnValue]]:
    """The one declaration of who may open a view: signed-in operators with one of `allowed`
    roles; `post`, when given, narrows who may POST to it. A visitor who is not signed in gets
    the login page; another role gets a 403 page, or is sent to `others_to` (an endpoint) when
    that is given and their role may open it. The navigation and the templates read the
    same declaration through :func:`can_open`, so a page's roles are written only here."""
    declared = {"*": tuple(allowed)}
    if post is not None:
        declared["POST"] = tuple(post)

    def decorate(view: Callable[P, ResponseReturnValue]) -> Callable[P, ResponseReturnValue]:
        @wraps(view)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> ResponseReturnValue:
            operator: Operator | None = g.get("operator")
            if operator is None:
                target = request.full_path if request.method == "GET" else None
                return redirect(url_for("console.login", next=target))
            if operator.role not in declared.get(request.method, declared["*"]):
                if others_to is not None and can_open(others_to):
                    return redirect(url_for(others_to))
                abort(403)
            return view(*args, **kwargs)

        setattr(wrapper, ROLES_ATTRIBUTE, declared)
        return wrapper

    return decorate


# C0 control characters (tab, newline and carriage return aside) have no place in a
# console form, query or path, and PostgreSQL refuses a NUL in text outright.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _has_control_characters() -> bool:
    values = [request.path, *request.args.values(), *request.form.values()]
    return any(_CONTROL.search(value) for value in values)


@bp.before_request
def _load_operator() -> ResponseReturnValue | None:
    g.operator = None
    if request.endpoint == "console.static":
        return None
    if _has_control_characters():
        abort(400, "The request contains a control character; remove it and try again.")
    token = session.get("sid")
    if isinstance(token, str):
        with transaction(db(), write=False):
            active = operators.resolve_session(db(), token, now())
        if active is None:
            session.pop("sid", None)
            flash("Your session has ended; please sign in again.", "warning")
        elif active.touch_due:
            with transaction(db()):
                operators.touch_session(db(), token, now())
        g.operator = active.operator if active is not None else None
    if request.method == "POST":
        sent = request.form.get("csrf_token", "")
        expected = session.get("csrf")
        if not isinstance(expected, str) or not hmac.compare_digest(
            sent.encode(), expected.encode()
        ):
            abort(400, "The form has expired or did not come from this console. Reload it.")
    return None


def _safe_next(target: str | None) -> str:
    """Only a console path of this site; anything else (another site, a control character
    that would end up in the Location header) goes to the dashboard."""
    if target and target.isprintable() and "\\" not in target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and parts.path.startswith("/console/"):
            return target
    return url_for("console.dashboard")


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    if g.operator is not None and request.method == "GET":
        return redirect(url_for("console.dashboard"))
    if request.method == "GET":
        return render_template("console/login.html", next=request.args.get("next", ""))
    username = request.form.get("username", "").strip()
    form = {"username": username}
    if not username or not request.form.get("password"):
        return render_template(
            "console/login.html",
            form=form,
            error="Enter your username and password.",
            next=request.form.get("next", ""),
        ), 400
    settings = state().settings
    try:
        # Two units of work: the slow password check reads only, so no write lock waits on it.
        with transaction(db(), write=False):
            checked = operators.check_password(
                db(), username, request.form.get("password", ""), now(), request.remote_addr
            )
        with transaction(db()):
            operator, token = operators.login(
                db(),
                checked,
                request.form.get("totp", ""),
                now(),
                settings.secret_key,
                ip=request.remote_addr,
                request_id=g.get("request_id"),
            )
    except operators.LoginThrottled as exc:
        return render_template(
            "console/error.html",
            code=429,
            title="Too many failed sign-ins",
            message=(
                "Sign-in is locked after repeated failures, for this username or from your "
                "address. "
                f"Try again after {exc.until.replace(microsecond=0).isoformat()}."
            ),
        ), 429
    except operators.LoginRefused as exc:
        return render_template(
            "console/login.html", form=form, error=str(exc), next=request.form.get("next", "")
        ), 401
    session.clear()  # a fresh cookie session: new CSRF token, nothing carried over
    session.permanent = True
    session["sid"] = token
    csrf_token()
    flash(f"Signed in as {operator.username} ({operator.role}).", "success")
    return redirect(_safe_next(request.form.get("next")))


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    token = session.get("sid")
    if isinstance(token, str):
        who = actor() if g.operator is not None else None
        with transaction(db()):
            operators.logout(db(), token, now(), who)
    session.clear()
    flash("Signed out.", "success")
    return redirect(url_for("console.login"))
