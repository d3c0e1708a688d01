"""Lenders, keys, policy, operators and the operator's own account.

Reading a lender is for admins and analysts; every change here is for admins only, and the
service records the audit event in the same transaction as the change.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time

import segno
from flask import abort, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue

from registry import sealing
from registry.console.auth import (
    ADMIN,
    ALL_ROLES,
    ANALYST,
    actor,
    can_open,
    current_operator,
    roles,
)
from registry.console.blueprint import bp
from registry.console.pages import field_errors, page_number
from registry.db import transaction
from registry.extensions import db, now, state
from registry.models import Lender, LenderStatus, OperatorStatus
from registry.services import dashboard, lenders, operators, policy, reciprocity, request_quotas
from registry.services.errors import Conflict, InvalidInput, NotFound

# --- a new API key, shown once ------------------------------------------------------------
# Between the POST that issues a key and the page that shows it, the key waits in the
# operator's server-side session row (operator_sessions.pending_key), sealed with AES-GCM
# (`registry.sealing`) under a key derived from the secret key; the cookie holds only the
# session token. The page that shows it removes it, so a copied cookie cannot show it again.
_NEW_KEY_PURPOSE = b"registry console new api key v1"
_NEW_KEY_AAD = b"new-key"


def _hold_new_key(code: str, secret: str) -> None:
    token = session.get("sid")
    if not isinstance(token, str):
        return
    plain = json.dumps([code, secret]).encode()
    sealed = sealing.seal(state().settings.secret_key, _NEW_KEY_PURPOSE, plain, _NEW_KEY_AAD)
    with transaction(db()):
        operators.hold_pending_key(db(), token, sealed)


def _take_new_key(code: str) -> str | None:
    """The new key of lender `code`, if one waits for this session: shown once, then gone
    from the server (a key waiting for another lender's page is dropped too)."""
    token = session.get("sid")
    if not isinstance(token, str):
        return None
    with transaction(db()):
        blob = operators.take_pending_key(db(), token)
    if blob is None:
        return None
    plain = sealing.open_sealed(state().settings.secret_key, _NEW_KEY_PURPOSE, blob, _NEW_KEY_AAD)
    try:
        held_code, secret = json.loads(plain) if plain is not None else (None, None)
    except ValueError:
        return None
    return str(secret) if held_code == code else None


# --- lenders ------------------------------------------------------------------------------


@bp.get("/lenders", endpoint="lenders")
@roles(ADMIN, ANALYST)
def lenders_page() -> ResponseReturnValue:
    return render_template(
        "console/lenders.html",
        rows=dashboard.lender_table(db(), now()),
        exited=lenders.exited_lenders(db()),
    )


@bp.route("/lenders/new", methods=["GET", "POST"])
@roles(ADMIN)
def lender_new() -> ResponseReturnValue:
    form = {"code": request.form.get("code", ""), "name": request.form.get("name", "")}
    if request.method == "GET":
        return render_template("console/lender_new.html", form=form, errors={})
    try:
        with transaction(db()):
            lender, key = lenders.create_lender(db(), form["code"], form["name"], now(), actor())
    except InvalidInput as exc:
        return render_template(
            "console/lender_new.html", form=form, errors=field_errors(exc.errors)
        ), 422
    except Conflict as exc:
        return render_template("console/lender_new.html", form=form, errors={"code": str(exc)}), 409
    _hold_new_key(lender.code, key.secret)
    flash(
        f"Lender {lender.code} onboarded. Copy its API key now: it is shown only once.", "success"
    )
    return redirect(url_for("console.lender", code=lender.code))


def _lender_or_404(code: str) -> Lender:
    try:
        return lenders.get_lender(db(), code)
    except NotFound:
        abort(404, f"There is no lender with code {code!r}.")


@bp.get("/lenders/<code>")
@roles(ADMIN, ANALYST)
def lender(code: str) -> ResponseReturnValue:
    found = _lender_or_404(code)
    stats = dashboard.lender_stats(db(), found, now(), page_number())
    by_purpose = dashboard.inquiries_by_purpose(db(), found.id, now())
    outcomes = dashboard.lender_outcome_rate(db(), found.id, now())
    # Only an operator who may issue keys can have one waiting to be shown.
    new_key = _take_new_key(found.code) if can_open("console.lender_issue_key", "POST") else None
    return render_template(
        "console/lender.html",
        lender=found,
        keys=list(found.api_keys),
        stats=stats,
        new_key=new_key,
        formula=dashboard.QUALITY_FORMULA,
        page=page_number(),
        settings=state().settings,
        by_purpose=by_purpose,
        outcomes=outcomes,
        outcome_days=dashboard.OUTCOME_RATE_DAYS,
        reciprocity=reciprocity.lender_reciprocity(db(), found, now()),
    )


@bp.post("/lenders/<code>/status")
@roles(ADMIN)
def lender_status(code: str) -> ResponseReturnValue:
    found = _lender_or_404(code)
    wanted = request.form.get("status", "")
    if wanted not in (LenderStatus.ACTIVE, LenderStatus.SUSPENDED):
        abort(400, "status must be active or suspended")
    with transaction(db()):
        lenders.set_status(db(), found, LenderStatus(wanted), now(), actor())
    verb = "suspended: its keys now get 403" if wanted == LenderStatus.SUSPENDED else "reactivated"
    flash(f"Lender {found.code} {verb}.", "success")
    return redirect(url_for("console.lender", code=found.code))


@bp.post("/lenders/<code>/exit")
@roles(ADMIN)
def lender_exit(code: str) -> ResponseReturnValue:
    """Mark the lender as having left the registry (audited): its loans stay in reports as
    its last word, stale from now on. Its status and keys are left as they are."""
    found = _lender_or_404(code)
    with transaction(db()):
        exited = lenders.exit_lender(db(), found, now(), actor())
    if exited:
        flash(f"Lender {found.code} marked as exited: its loans are stale from now on.", "success")
    else:
        flash(f"Lender {found.code} had already exited.", "info")
    return redirect(url_for("console.lender", code=found.code))


@bp.post("/lenders/<code>/quotas")
@roles(ADMIN)
def lender_quotas(code: str) -> ResponseReturnValue:
    """The lender's own quotas (empty: unchanged; 0: back to the default), audited."""
    found = _lender_or_404(code)
    values: dict[str, int | None] = {}
    for name in ("inquiries_per_day", "inquiry_burst_per_minute", "upload_records_per_day"):
        raw = request.form.get(name, "").strip()
        if raw and not raw.isdigit():
            flash(f"{name}: a whole number, 0 for the default", "error")
            return redirect(url_for("console.lender", code=found.code))
        values[name] = int(raw) if raw else None
    try:
        with transaction(db()):
            request_quotas.set_quotas(db(), found, now(), actor(), **values)
    except InvalidInput as exc:
        flash("; ".join(f"{e.field}: {e.message}" for e in exc.errors), "error")
    else:
        flash(f"Quotas of {found.code} saved.", "success")
    return redirect(url_for("console.lender", code=found.code))


@bp.post("/lenders/<code>/exemption")
@roles(ADMIN)
def lender_exemption(code: str) -> ResponseReturnValue:
    """Give to get: exempt the lender until the start of a UTC date, or end its exemption
    (`clear`, or a date already past); audited."""
    found = _lender_or_404(code)
    until: datetime | None = None
    if not request.form.get("clear"):
        try:
            day = date.fromisoformat(request.form.get("until", "").strip())
        except ValueError:
            flash("until: a date, YYYY-MM-DD", "error")
            return redirect(url_for("console.lender", code=found.code))
        until = datetime.combine(day, time.min, tzinfo=UTC)
    with transaction(db()):
        changed = reciprocity.set_exemption(db(), found, until, now(), actor())
    if not changed:
        flash(f"Nothing to change: {found.code} is not exempt.", "info")
    elif until is not None and until > now():
        flash(f"{found.code} is exempt until {until.date().isoformat()} (give to get).", "success")
    else:
        flash(f"{found.code} is no longer exempt (give to get).", "success")
    return redirect(url_for("console.lender", code=found.code))


@bp.post("/lenders/<code>/keys")
@roles(ADMIN)
def lender_issue_key(code: str) -> ResponseReturnValue:
    found = _lender_or_404(code)
    label = request.form.get("label", "").strip()[:64]
    with transaction(db()):
        key = lenders.issue_key(db(), found, now(), label=label, actor=actor())
    _hold_new_key(found.code, key.secret)
    flash(f"New key {key.prefix} issued. Copy it now: it is shown only once.", "success")
    return redirect(url_for("console.lender", code=found.code))


@bp.post("/lenders/<code>/keys/<prefix>/revoke")
@roles(ADMIN)
def lender_revoke_key(code: str, prefix: str) -> ResponseReturnValue:
    found = _lender_or_404(code)
    try:
        with transaction(db()):
            revoked = lenders.revoke_key(db(), found, prefix, now(), actor())
    except NotFound:
        abort(404, f"Lender {found.code} has no key {prefix!r}.")
    flash(
        f"Key {prefix} revoked." if revoked else f"Key {prefix} was already revoked.",
        "success" if revoked else "info",
    )
    return redirect(url_for("console.lender", code=found.code))


# --- policy -------------------------------------------------------------------------------


@bp.route("/policy", methods=["GET", "POST"], endpoint="policy")
@roles(ADMIN, ANALYST, post=(ADMIN,))
def policy_page() -> ResponseReturnValue:
    rows = dashboard.policy_rows(db())
    if request.method == "GET":
        return render_template("console/policy.html", rows=rows, form=None, errors={})
    form = request.form
    errors: dict[str, str] = {}
    wanted: dict[str, tuple[int, bool]] = {}
    for row in rows:
        raw = form.get(f"threshold_{row.code}", "").strip()
        problem = policy.threshold_problem(row.code, raw)
        if problem is not None:
            errors[row.code] = problem
            continue
        wanted[row.code] = (int(raw), form.get(f"enabled_{row.code}") == "on")
    if errors:
        return render_template("console/policy.html", rows=rows, form=form, errors=errors), 422
    changed = []
    try:
        with transaction(db()):
            for row in rows:
                threshold, enabled = wanted[row.code]
                change = policy.set_threshold(
                    db(), row.code, threshold, now(), enabled=enabled, actor=actor()
                )
                if change.changed:
                    changed.append(row.code)
    except InvalidInput as exc:
        errors[row.code] = "; ".join(e.message for e in exc.errors)
        return render_template("console/policy.html", rows=rows, form=form, errors=errors), 422
    if changed:
        flash(f"Policy updated ({', '.join(changed)}); the next inquiry uses it.", "success")
    else:
        flash("Nothing changed: every rule already had these values.", "info")
    return redirect(url_for("console.policy"))


# --- operators ----------------------------------------------------------------------------


@bp.route("/operators", methods=["GET", "POST"], endpoint="operators")
@roles(ADMIN)
def operators_page() -> ResponseReturnValue:
    form = {"username": "", "role": "analyst"}
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        form = {"username": request.form.get("username", ""), "role": request.form.get("role", "")}
        password = request.form.get("password", "")
        if password != request.form.get("password_again", ""):
            errors["password_again"] = "the two passwords differ"  # noqa: S105 - a message, not a secret
        else:
            try:
                with transaction(db()):
                    created = operators.create_operator(
                        db(), form["username"], password, form["role"], now(), actor()
                    )
            except InvalidInput as exc:
                errors = field_errors(exc.errors)
            except Conflict as exc:
                errors = {"username": str(exc)}
            else:
                flash(f"Operator {created.username} ({created.role}) added.", "success")
                return redirect(url_for("console.operators"))
        status = 422
    return render_template(
        "console/operators.html",
        rows=operators.list_operators(db()),
        form=form,
        errors=errors,
        roles=ALL_ROLES,
    ), status


@bp.post("/operators/<username>/status")
@roles(ADMIN)
def operator_status(username: str) -> ResponseReturnValue:
    try:
        target = operators.get_operator(db(), username)
    except NotFound:
        abort(404, f"There is no operator {username!r}.")
    wanted = request.form.get("status", "")
    if wanted not in (OperatorStatus.ACTIVE, OperatorStatus.DISABLED):
        abort(400, "status must be active or disabled")
    if target.id == current_operator().id:
        flash("You cannot disable yourself.", "error")
        return redirect(url_for("console.operators"))
    with transaction(db()):
        operators.set_operator_status(db(), target, OperatorStatus(wanted), now(), actor())
    flash(f"Operator {target.username} is now {wanted}.", "success")
    return redirect(url_for("console.operators"))


# --- the operator's own account: TOTP -----------------------------------------------------


def _account(
    errors: dict[str, str] | None = None, codes: list[str] | None = None, status: int = 200
) -> ResponseReturnValue:
    operator = current_operator()
    uri = operators.pending_totp_uri(operator, state().settings.secret_key)
    qr = segno.make(uri, error="m").svg_data_uri(scale=4) if uri else None
    secret = uri.split("secret=", 1)[1].split("&", 1)[0] if uri else None
    return render_template(
        "console/account.html",
        operator=operator,
        qr=qr,
        secret=secret,
        recovery_codes=codes,
        errors=errors or {},
    ), status


@bp.get("/account")
@roles(*ALL_ROLES)
def account() -> ResponseReturnValue:
    return _account()


@bp.post("/account/totp/start")
@roles(*ALL_ROLES)
def totp_start() -> ResponseReturnValue:
    try:
        with transaction(db()):
            operators.begin_totp_enrolment(
                db(), current_operator(), state().settings.secret_key, now()
            )
    except Conflict as exc:
        flash(str(exc), "error")
    return redirect(url_for("console.account"))


@bp.post("/account/totp/verify")
@roles(*ALL_ROLES)
def totp_verify() -> ResponseReturnValue:
    try:
        with transaction(db()):
            codes = operators.confirm_totp(
                db(),
                current_operator(),
                request.form.get("code", ""),
                state().settings.secret_key,
                now(),
                actor(),
            )
    except InvalidInput as exc:
        return _account(field_errors(exc.errors), status=422)
    except Conflict as exc:
        flash(str(exc), "error")
        return redirect(url_for("console.account"))
    flash("Two-factor sign-in is on. Keep the recovery codes somewhere safe.", "success")
    # Shown in this response only: the codes are stored hashed.
    return _account(codes=codes)


@bp.post("/account/totp/disable")
@roles(*ALL_ROLES)
def totp_disable() -> ResponseReturnValue:
    try:
        with transaction(db()):
            operators.disable_totp(
                db(),
                current_operator(),
                request.form.get("password", ""),
                request.form.get("code", ""),
                now(),
                state().settings.secret_key,
                actor(),
            )
    except InvalidInput as exc:
        return _account(field_errors(exc.errors), status=422)
    except operators.TotpDisableThrottled as exc:
        until = exc.until.replace(microsecond=0).isoformat()
        return _account({"code": f"{exc}; try again after {until}"}, status=429)
    flash("Two-factor sign-in is off.", "success")
    return redirect(url_for("console.account"))
