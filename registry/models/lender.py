"""Member lenders and their API keys."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from registry.models.base import Base


class LenderStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class Lender(Base):
    __tablename__ = "lenders"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default=LenderStatus.ACTIVE)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # OPRF elements this lender may have evaluated per UTC day; NULL means the default.
    token_quota_per_day: Mapped[int | None]
    # Set when the operator marks the lender as having left the registry: its loans stay,
    # as its last word, and count as stale from then on.
    exited_at: Mapped[datetime | None]
    # Per-lender overrides of the settings' quotas (NULL: the default).
    inquiries_per_day: Mapped[int | None]
    inquiry_burst_per_minute: Mapped[int | None]
    upload_records_per_day: Mapped[int | None]
    # Give to get: until then, the lender may make new_credit inquiries without having
    # reported recently (onboarding). NULL: not exempt.
    reciprocity_exempt_until: Mapped[datetime | None]

    api_keys: Mapped[list[ApiKey]] = relationship(back_populates="lender", order_by="ApiKey.id")

    @property
    def is_active(self) -> bool:
        return self.status == LenderStatus.ACTIVE


class ApiKey(Base):
    """One credential of a lender. Only a hash of the secret is kept; the prefix finds the row."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    lender_id: Mapped[int] = mapped_column(ForeignKey("lenders.id"), index=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[bytes] = mapped_column(LargeBinary(32))
    label: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]

    lender: Mapped[Lender] = relationship(back_populates="api_keys")


class RequestUsage(Base):
    """How much of a quota a lender used in one window: inquiries per UTC day and per minute,
    loan records per UTC day (`kind`), counted as they are answered."""

    __tablename__ = "request_usage"

    lender_id: Mapped[int] = mapped_column(ForeignKey("lenders.id"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(primary_key=True)
    used: Mapped[int] = mapped_column(BigInteger)
