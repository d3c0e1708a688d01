"""Rows for the console's forms: the policy rules with their thresholds, and the lenders
of a filter menu."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from registry.models import Lender, PolicyRule
from registry.services.dashboard.lender_figures import aware
from registry.services.policy import ENTRIES


@dataclass(frozen=True)
class RuleRow:
    code: str
    threshold: int
    enabled: bool
    meaning: str
    default: int
    updated_at: datetime | None


def policy_rows(session: Session) -> list[RuleRow]:
    """Every flag rule and setting with its current value (the default when never set)."""
    stored = {rule.code: rule for rule in session.scalars(select(PolicyRule))}
    rows = []
    for spec in ENTRIES:
        rule = stored.get(spec.code)
        rows.append(
            RuleRow(
                spec.code,
                rule.threshold if rule else spec.default,
                rule.enabled if rule else True,
                spec.meaning,
                spec.default,
                aware(rule.updated_at) if rule else None,
            )
        )
    return rows


def lender_choices(session: Session) -> list[tuple[str, str]]:
    """(code, name) of every lender, for filter menus."""
    return list(session.execute(select(Lender.code, Lender.name).order_by(Lender.code)).tuples())
