"""The operator-set policy: one row per flag, with its threshold."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from registry.models.base import Base


class PolicyRule(Base):
    __tablename__ = "policy_rules"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    threshold: Mapped[int]
    enabled: Mapped[bool]
    updated_at: Mapped[datetime]
