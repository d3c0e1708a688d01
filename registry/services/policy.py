"""The flag policy: thresholds an operator sets, stored in `policy_rules`. Changes happen
inside the caller's unit of work (`registry.db.transaction`); this module never commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.models import PolicyRule
from registry.services import audit
from registry.services.errors import FieldError, InvalidInput


@dataclass(frozen=True)
class RuleSpec:
    code: str
    default: int
    meaning: str  # how the threshold is compared, for people


RULES: tuple[RuleSpec, ...] = (
    RuleSpec("MULTI_LENDER", 3, "lenders with open loans >= threshold"),
    RuleSpec(
        "APPLICATION_SPREE", 3, "other lenders with new_credit inquiries in 7 days >= threshold"
    ),
    RuleSpec("PAST_DUE_ELSEWHERE", 30, "another lender's open loan days past due >= threshold"),
    RuleSpec("WRITTEN_OFF", 1, "written-off loans >= threshold"),
    RuleSpec("RAPID_BORROWING", 3, "loans opened in the last 30 days >= threshold"),
)
RULE_CODES = tuple(rule.code for rule in RULES)


@dataclass(frozen=True)
class Policy:
    thresholds: dict[str, int]  # only the enabled rules

    @classmethod
    def defaults(cls) -> Policy:
        return cls({rule.code: rule.default for rule in RULES})


def load_policy(session: Session) -> Policy:
    rows = session.scalars(select(PolicyRule)).all()
    if not rows:
        return Policy.defaults()
    return Policy({row.code: row.threshold for row in rows if row.enabled})


@dataclass(frozen=True)
class PolicyChange:
    code: str
    old: tuple[int, bool]  # (threshold, enabled) before
    new: tuple[int, bool]  # and after

    @property
    def changed(self) -> bool:
        return self.old != self.new


def set_threshold(
    session: Session,
    code: str,
    threshold: int,
    now: datetime,
    enabled: bool = True,
    actor: audit.Actor | None = None,
) -> PolicyChange:
    """Set one rule. Setting it to what it already is changes nothing: no audit event, and
    the rule's "last changed" time stays (`PolicyChange.changed` is False)."""
    if code not in RULE_CODES:
        raise InvalidInput(
            "unknown policy rule", [FieldError("code", f"must be one of {RULE_CODES}")]
        )
    if not 1 <= threshold <= 100_000:
        raise InvalidInput("bad threshold", [FieldError("threshold", "must be 1 to 100000")])
    rule = session.get(PolicyRule, code)
    default = next(r.default for r in RULES if r.code == code)
    old = (rule.threshold, rule.enabled) if rule is not None else (default, True)
    change = PolicyChange(code, old, (threshold, enabled))
    if not change.changed:
        return change
    if rule is None:
        rule = PolicyRule(code=code, threshold=default, enabled=True, updated_at=now)
        session.add(rule)
    rule.threshold, rule.enabled, rule.updated_at = threshold, enabled, now
    session.flush()
    if actor is not None:
        audit.record(
            session,
            actor,
            "policy_changed",
            now,
            code,
            {
                "old": {"threshold": old[0], "enabled": old[1]},
                "new": {"threshold": threshold, "enabled": enabled},
            },
        )
    return change
