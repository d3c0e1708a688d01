"""The flag policy: thresholds an operator sets, stored in `policy_rules`, and two settings
stored beside them (`stale_after_days`, `count_stale_loans`). Changes happen inside the
caller's unit of work (`registry.db.transaction`); this module never commits."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.db import core
from registry.models import PolicyRule
from registry.services import audit
from registry.services.errors import FieldError, InvalidInput

MAX_THRESHOLD = 100_000


@dataclass(frozen=True)
class RuleSpec:
    code: str
    default: int
    meaning: str  # how the threshold is compared, for people
    minimum: int = 1
    maximum: int = MAX_THRESHOLD
    setting: bool = False  # a setting, not a flag: always in force (no "enabled")


# The flags, in the order a report lists them.
RULES: tuple[RuleSpec, ...] = (
    RuleSpec(
        "MULTI_LENDER",
        3,
        "lenders holding fresh open loans with something outstanding >= threshold "
        "(an undrawn line is not a debt)",
    ),
    RuleSpec(
        "APPLICATION_SPREE", 3, "other lenders with new_credit inquiries in 7 days >= threshold"
    ),
    RuleSpec("PAST_DUE_ELSEWHERE", 30, "another lender's open loan days past due >= threshold"),
    RuleSpec(
        "WRITTEN_OFF",
        1,
        "written-off loans within retention (later repaid included) >= threshold",
    ),
    RuleSpec(
        "RAPID_BORROWING",
        3,
        "distinct lenders that opened loans in the last 30 days (fresh loans) >= threshold",
    ),
    RuleSpec(
        "LOAN_CYCLING",
        2,
        "loans closed in the last 90 days within 7 days after a loan was opened at a "
        "different lender >= threshold",
    ),
    RuleSpec(
        "PAST_DUE_HISTORY",
        60,
        "worst days past due in the last 24 months, any loan, >= threshold",
    ),
    RuleSpec(
        "HIGH_UTILISATION",
        90,
        "drawn share of revolving lines' limits, in one currency, >= threshold percent",
        maximum=1000,
    ),
    RuleSpec(
        "APPLICATION_BURST",
        2,
        "other lenders with new_credit inquiries in the last 24 hours >= threshold",
    ),
    RuleSpec(
        "PENDING_ELSEWHERE",
        2,
        "other lenders' pending applications (7 days, no outcome) plus their provisional "
        "loans >= threshold",
    ),
    RuleSpec(
        "SHARED_PHONE",
        3,
        "the most distinct borrowers seen in 90 days with one of this borrower's phones "
        ">= threshold",
    ),
)
RULE_CODES = tuple(rule.code for rule in RULES)

# Settings, stored as policy rows like the thresholds (their `enabled` is always true).
STALE_AFTER_DAYS = "stale_after_days"
COUNT_STALE_LOANS = "count_stale_loans"
ACCOUNT_REVIEW_DAYS = "account_review_days"
PROVISIONAL_DAYS = "provisional_days"
COUNT_PROVISIONAL_LOANS = "count_provisional_loans"
DISPUTE_DAYS = "dispute_days"
OVERDUE_DISPUTES_IGNORED = "overdue_disputes_ignored"
RETENTION_CLOSED_MONTHS = "retention_closed_months"
RECIPROCITY_DAYS = "reciprocity_days"
SETTINGS: tuple[RuleSpec, ...] = (
    RuleSpec(
        STALE_AFTER_DAYS,
        35,
        "a loan whose latest report is older than this many days is stale",
        maximum=3650,
        setting=True,
    ),
    RuleSpec(
        COUNT_STALE_LOANS,
        0,
        "1: stale loans count towards MULTI_LENDER and RAPID_BORROWING; 0: they do not",
        minimum=0,
        maximum=1,
        setting=True,
    ),
    RuleSpec(
        ACCOUNT_REVIEW_DAYS,
        90,
        "account_review is allowed for this many days after the caller's loan closed",
        minimum=0,
        maximum=3650,
        setting=True,
    ),
    RuleSpec(
        PROVISIONAL_DAYS,
        14,
        "an approved application shows as a provisional loan for this many days, until its "
        "lender reports the loan",
        maximum=365,
        setting=True,
    ),
    RuleSpec(
        COUNT_PROVISIONAL_LOANS,
        1,
        "1: provisional loans count towards MULTI_LENDER and RAPID_BORROWING; 0: they do not",
        minimum=0,
        maximum=1,
        setting=True,
    ),
    RuleSpec(
        DISPUTE_DAYS,
        20,
        "a lender answers a dispute of its record within this many days",
        maximum=365,
        setting=True,
    ),
    RuleSpec(
        OVERDUE_DISPUTES_IGNORED,
        1,
        "1: a tradeline whose dispute is past its deadline unanswered counts towards no flag",
        minimum=0,
        maximum=1,
        setting=True,
    ),
    RuleSpec(
        RETENTION_CLOSED_MONTHS,
        60,
        "a closed loan without negative history is kept this many months after closing",
        maximum=600,
        setting=True,
    ),
    RuleSpec(
        RECIPROCITY_DAYS,
        35,
        "give to get: a lender may make new_credit inquiries only if it reported within "
        "this many days",
        maximum=3650,
        setting=True,
    ),
)
# Everything `registry policy` and the console's policy page show and edit.
ENTRIES: tuple[RuleSpec, ...] = RULES + SETTINGS
ENTRY_CODES = tuple(entry.code for entry in ENTRIES)
_SPECS = {entry.code: entry for entry in ENTRIES}


@dataclass(frozen=True)
class Policy:
    thresholds: dict[str, int]  # only the enabled rules
    stale_after_days: int = 35
    count_stale_loans: bool = False
    settings: dict[str, int] = field(default_factory=dict)

    @property
    def account_review_days(self) -> int:
        return self.settings.get(ACCOUNT_REVIEW_DAYS, 90)

    def setting(self, code: str) -> int:
        """A setting's value (its default when the policy rows predate it)."""
        return self.settings.get(code, _SPECS[code].default)

    @property
    def provisional_days(self) -> int:
        return self.setting(PROVISIONAL_DAYS)

    @property
    def count_provisional_loans(self) -> bool:
        return self.setting(COUNT_PROVISIONAL_LOANS) == 1

    @property
    def dispute_days(self) -> int:
        return self.setting(DISPUTE_DAYS)

    @property
    def overdue_disputes_ignored(self) -> bool:
        return self.setting(OVERDUE_DISPUTES_IGNORED) == 1

    @property
    def retention_closed_months(self) -> int:
        return self.setting(RETENTION_CLOSED_MONTHS)

    @property
    def reciprocity_days(self) -> int:
        return self.setting(RECIPROCITY_DAYS)

    @classmethod
    def defaults(cls) -> Policy:
        return cls({rule.code: rule.default for rule in RULES})


# Read on every inquiry: built once, and plain rows rather than ORM objects.
_POLICY_ROWS = select(PolicyRule.code, PolicyRule.threshold, PolicyRule.enabled)


def load_policy(session: Session) -> Policy:
    rows = core(session).execute(_POLICY_ROWS).tuples().all()
    if not rows:
        return Policy.defaults()
    stored = {code: threshold for code, threshold, _enabled in rows}
    settings = {spec.code: stored.get(spec.code, spec.default) for spec in SETTINGS}
    return Policy(
        {code: threshold for code, threshold, enabled in rows if enabled and code in RULE_CODES},
        stale_after_days=settings[STALE_AFTER_DAYS],
        count_stale_loans=settings[COUNT_STALE_LOANS] == 1,
        settings=settings,
    )


def spec_for(code: str) -> RuleSpec:
    if code not in _SPECS:
        raise InvalidInput(
            "unknown policy rule", [FieldError("code", f"must be one of {ENTRY_CODES}")]
        )
    return _SPECS[code]


def threshold_problem(code: str, raw: str) -> str | None:
    """Why `raw` is not a valid value for rule or setting `code` (None if it is)."""
    spec = spec_for(code)
    value = raw.strip()
    if not value.isdigit() or not spec.minimum <= int(value) <= spec.maximum:
        return f"a whole number from {spec.minimum} to {spec.maximum}"
    return None


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
    """Set one rule (or setting: its value is the threshold, and it is always enabled).
    Setting it to what it already is changes nothing: no audit event, and the rule's "last
    changed" time stays (`PolicyChange.changed` is False)."""
    spec = spec_for(code)
    if not spec.minimum <= threshold <= spec.maximum:
        raise InvalidInput(
            "bad threshold",
            [FieldError("threshold", f"must be {spec.minimum} to {spec.maximum}")],
        )
    if spec.setting:
        enabled = True
    rule = session.get(PolicyRule, code)
    old = (rule.threshold, rule.enabled) if rule is not None else (spec.default, True)
    change = PolicyChange(code, old, (threshold, enabled))
    if not change.changed:
        return change
    if rule is None:
        rule = PolicyRule(code=code, threshold=spec.default, enabled=True, updated_at=now)
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
