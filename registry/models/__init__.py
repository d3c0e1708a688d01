"""Tables. Plain SQLAlchemy 2.0 typed models; nothing here knows about HTTP."""

from registry.models.application import (
    ApplicationOutcome,
    BorrowerPhone,
    Outcome,
    PhoneBorrower,
)
from registry.models.base import Base
from registry.models.console import LoginThrottle, OperatorSession
from registry.models.corrections import LoanCorrection, LoanRetraction
from registry.models.inquiry import Inquiry, InquiryKey, Purpose
from registry.models.lender import ApiKey, Lender, LenderStatus, RequestUsage
from registry.models.loan import (
    STATE_FIELDS,
    Loan,
    LoanHistory,
    LoanMonth,
    LoanRef,
    LoanStatus,
    Product,
)
from registry.models.obligations import (
    BorrowerStatement,
    Dispute,
    DisputeResolution,
    DisputeStatus,
)
from registry.models.operator import AuditEvent, Operator, OperatorRole, OperatorStatus
from registry.models.policy import PolicyRule
from registry.models.submission import RejectedFingerprint, Submission
from registry.models.token import (
    KeyState,
    PepperCheck,
    RotationKind,
    TokenKey,
    TokenRotation,
    TokenUsage,
)

__all__ = [
    "STATE_FIELDS",
    "ApiKey",
    "ApplicationOutcome",
    "AuditEvent",
    "Base",
    "BorrowerPhone",
    "BorrowerStatement",
    "Dispute",
    "DisputeResolution",
    "DisputeStatus",
    "Inquiry",
    "InquiryKey",
    "KeyState",
    "Lender",
    "LenderStatus",
    "Loan",
    "LoanCorrection",
    "LoanHistory",
    "LoanMonth",
    "LoanRef",
    "LoanRetraction",
    "LoanStatus",
    "LoginThrottle",
    "Operator",
    "OperatorRole",
    "OperatorSession",
    "OperatorStatus",
    "Outcome",
    "PepperCheck",
    "PhoneBorrower",
    "PolicyRule",
    "Product",
    "Purpose",
    "RejectedFingerprint",
    "RequestUsage",
    "RotationKind",
    "Submission",
    "TokenKey",
    "TokenRotation",
    "TokenUsage",
]
