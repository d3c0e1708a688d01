"""The optional second factor: TOTP (RFC 6238, 30 s, 6 digits) and recovery codes.

The TOTP secret is stored sealed (`registry.sealing`, AES-GCM under a key derived from the
registry's secret key); recovery codes are random and kept as HMAC-SHA256 digests under
another derived key, each usable once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime

import pyotp
from sqlalchemy.orm import Session

from registry import sealing
from registry.models import Operator
from registry.services import audit
from registry.services.errors import Conflict, FieldError, InvalidInput, ServiceError
from registry.services.operators.accounts import verify_password
from registry.services.operators.throttle import count_failure, is_locked, lock, locked_row, refuse

TOTP_ISSUER = "Debt registry"
RECOVERY_CODES = 10

# The sealing of stored TOTP secrets: changing either makes every enrolled secret unreadable.
_TOTP_PURPOSE = b"registry operator totp v1"
_TOTP_AAD = b"totp"
_RECOVERY_PURPOSE = b"registry operator recovery codes v1"


def _seal(secret_key: str, plain: bytes) -> bytes:
    return sealing.seal(secret_key, _TOTP_PURPOSE, plain, _TOTP_AAD)


def _unseal(secret_key: str, sealed: bytes | None) -> bytes | None:
    return sealing.open_sealed(secret_key, _TOTP_PURPOSE, sealed or b"", _TOTP_AAD)


def _recovery_digest(secret_key: str, code: str) -> str:
    key = sealing.derive_key(secret_key, _RECOVERY_PURPOSE)
    normalised = code.strip().lower().replace("-", "").replace(" ", "")
    return hmac.new(key, normalised.encode(), hashlib.sha256).hexdigest()


def check_second_factor(
    operator: Operator, code: str, secret_key: str, now: datetime
) -> str | None:
    """None when `code` is a valid TOTP code or an unused recovery code (which is then
    consumed); otherwise the reason for the audit log."""
    code = code.strip().replace(" ", "")
    if not code:
        return "totp_missing"
    if code.isdigit() and len(code) == 6:
        secret = _unseal(secret_key, operator.totp_secret_encrypted)
        step = _matching_step(secret.decode(), code, now) if secret is not None else None
        if step is None:
            return "wrong_totp"
        # A code opens one login: one seen (or an earlier one) is refused (RFC 6238, 5.2).
        if operator.totp_last_step is not None and step <= operator.totp_last_step:
            return "replayed_totp"
        operator.totp_last_step = step
        return None
    digest = _recovery_digest(secret_key, code)
    remaining = [h for h in operator.recovery_code_hashes if not hmac.compare_digest(h, digest)]
    if len(remaining) == len(operator.recovery_code_hashes):
        return "wrong_totp"
    operator.recovery_code_hashes = remaining
    return None


def _matching_step(secret: str, code: str, now: datetime) -> int | None:
    """The 30-second time step whose code `code` is, among the current one and its two
    neighbours (clock drift), or None."""
    totp = pyotp.TOTP(secret)
    current = int(now.timestamp()) // totp.interval
    for step in (current - 1, current, current + 1):
        if hmac.compare_digest(totp.at(step * totp.interval), code):
            return step
    return None


def begin_totp_enrolment(
    session: Session, operator: Operator, secret_key: str, now: datetime
) -> str:
    """A new, not yet active TOTP secret for `operator`; returns its otpauth:// URI (for the
    QR code). The factor is enforced only once `confirm_totp` succeeds."""
    if operator.totp_enabled_at is not None:
        raise Conflict("the second factor is already enabled")
    secret = pyotp.random_base32()
    operator.totp_secret_encrypted = _seal(secret_key, secret.encode())
    operator.updated_at = now
    session.flush()
    return pyotp.TOTP(secret).provisioning_uri(name=operator.username, issuer_name=TOTP_ISSUER)


def pending_totp_uri(operator: Operator, secret_key: str) -> str | None:
    """The otpauth:// URI of an enrolment started but not yet confirmed."""
    if operator.totp_enabled_at is not None or operator.totp_secret_encrypted is None:
        return None
    secret = _unseal(secret_key, operator.totp_secret_encrypted)
    if secret is None:
        return None
    return pyotp.TOTP(secret.decode()).provisioning_uri(
        name=operator.username, issuer_name=TOTP_ISSUER
    )


def confirm_totp(
    session: Session,
    operator: Operator,
    code: str,
    secret_key: str,
    now: datetime,
    actor: audit.Actor | None = None,
) -> list[str]:
    """Activate the pending secret if `code` is valid; returns the recovery codes (shown
    once)."""
    secret = _unseal(secret_key, operator.totp_secret_encrypted)
    if operator.totp_enabled_at is not None or secret is None:
        raise Conflict("start the enrolment first")
    code = code.strip().replace(" ", "")
    step = _matching_step(secret.decode(), code, now)
    if step is None:
        raise InvalidInput("wrong code", [FieldError("code", "that code is not valid now")])
    operator.totp_last_step = step
    codes = ["-".join(secrets.token_hex(3) for _ in range(2)) for _ in range(RECOVERY_CODES)]
    operator.totp_enabled_at = now
    operator.recovery_code_hashes = [_recovery_digest(secret_key, c) for c in codes]
    operator.updated_at = now
    if actor is not None:
        audit.record(session, actor, "totp_enabled", now, operator.username)
    session.flush()
    return codes


class TotpDisableThrottled(ServiceError):
    def __init__(self, until: datetime) -> None:
        super().__init__("too many failed attempts to turn two-factor sign-in off; try later")
        self.until = until


# Turning the second factor off is what a thief of a signed-in browser would do first: it
# needs the password and a current TOTP code, and this many failures lock it for a while.
MAX_DISABLE_FAILURES = 5


def disable_totp(
    session: Session,
    operator: Operator,
    password: str,
    code: str,
    now: datetime,
    secret_key: str,
    actor: audit.Actor,
) -> None:
    """Turn the second factor off; needs the operator's password and a current TOTP code
    (not a recovery code: those are for signing in without the device). Every failure is
    audited and counted, committed before it is raised; MAX_DISABLE_FAILURES lock it."""
    row = locked_row(session, f"totp-off:{operator.username}"[:64])
    if is_locked(row, now):
        assert row.locked_until is not None
        audit.record(
            session,
            actor,
            "totp_disable_refused",
            now,
            operator.username,
            {"locked_until": row.locked_until.isoformat()},
        )
        refuse(session, TotpDisableThrottled(row.locked_until))
    code = code.strip().replace(" ", "")
    reason = None
    if not verify_password(operator.password_hash, password):
        reason = "wrong_password"
    elif not (code.isdigit() and len(code) == 6):
        reason = "totp_missing"
    else:
        reason = check_second_factor(operator, code, secret_key, now)
    if reason is not None:
        count_failure(row, now)
        details: dict[str, object] = {"reason": reason, "failures_in_window": row.failures}
        if row.failures >= MAX_DISABLE_FAILURES:
            lock(row, now)
            assert row.locked_until is not None
            details["locked_until"] = row.locked_until.isoformat()
        audit.record(session, actor, "totp_disable_failed", now, operator.username, details)
        # One message for both: the page does not confirm a right password.
        refuse(
            session,
            InvalidInput(
                "wrong password or code",
                [FieldError("code", "the password or the code is wrong")],
            ),
        )
    session.delete(row)
    operator.totp_secret_encrypted = None
    operator.totp_enabled_at = None
    operator.totp_last_step = None
    operator.recovery_code_hashes = []
    operator.updated_at = now
    audit.record(session, actor, "totp_disabled", now, operator.username)
    session.flush()
