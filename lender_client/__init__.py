"""Client SDK and command line tool for the debt-sharing registry.

>>> from lender_client import RegistryClient, LoanReport
>>> with RegistryClient() as client:  # doctest: +SKIP
...     summary = client.report_loans(reports)
...     print(summary.accepted, summary.unchanged, summary.stale, summary.rejected_count)

Borrowers may be named by ID instead of by token (``client.tokenize(kind, value)``,
``inquire(id_kind=..., id_value=...)``, loan reports with ``id_kind``/``id_value``): see
:mod:`lender_client.tokens`. The ID never leaves the process. The borrower's kinds of ID are
``BORROWER_KINDS``; a phone number is a secondary identifier (``phone=`` on ``LoanReport`` and
``inquire``), tokenised the same way and sent as ``phone_token``.

What came of an application: ``client.record_outcome(inquiry_id, "approved", loan_ref=...,
amount=..., currency=...)`` (:mod:`lender_client.outcomes`).

See :class:`RegistryClient` for the calls and :mod:`lender_client.errors` for what they raise.
"""

from lender_client._version import __version__
from lender_client.borrower_ids import BORROWER_KINDS, NotABorrowerKindError
from lender_client.cache import TokenCache
from lender_client.client import DEFAULT_BASE_URL, MAX_BATCH_SIZE, RegistryClient
from lender_client.errors import (
    AlreadyRetractedError,
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    ConfigurationError,
    ConflictError,
    FieldError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    RegistryError,
    ServerError,
    TokenQuotaExceededError,
    TokenVerificationError,
    UnexpectedResponseError,
    UntrustedKeyError,
    ValidationError,
)
from lender_client.idempotency import new_idempotency_key
from lender_client.inquiry_report import Identity
from lender_client.models import (
    BatchResult,
    Flag,
    FlagCode,
    InquiryReport,
    InquirySummary,
    InquiryWindows,
    Loan,
    LoanPage,
    LoanReport,
    LoanStatus,
    OwnPosition,
    PaymentFrequency,
    Product,
    Purpose,
    RecordRejection,
    RecordWarning,
    Rejection,
    Retraction,
    RetractionReason,
    SpecialEvent,
    SubmissionResult,
    Tradeline,
    UploadSummary,
    UploadWarning,
    format_money,
)
from lender_client.outcomes import ApplicationOutcome, Outcome
from lender_client.pepper import Pepper
from lender_client.retries import backoff_delay, is_retryable, parse_retry_after
from lender_client.token_key import KeyInfo, Rotation, TokenKey
from lender_client.tokens import TokenPair
from registry_protocol.ids import ID_KINDS, InvalidIdError, normalize_id

__all__ = [
    "BORROWER_KINDS",
    "DEFAULT_BASE_URL",
    "ID_KINDS",
    "MAX_BATCH_SIZE",
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AlreadyRetractedError",
    "ApplicationOutcome",
    "AuthenticationError",
    "BatchResult",
    "ConfigurationError",
    "ConflictError",
    "FieldError",
    "Flag",
    "FlagCode",
    "Identity",
    "InquiryReport",
    "InquirySummary",
    "InquiryWindows",
    "InvalidIdError",
    "KeyInfo",
    "Loan",
    "LoanPage",
    "LoanReport",
    "LoanStatus",
    "NotABorrowerKindError",
    "NotFoundError",
    "Outcome",
    "OwnPosition",
    "PaymentFrequency",
    "Pepper",
    "PermissionDeniedError",
    "Product",
    "Purpose",
    "RateLimitError",
    "RecordRejection",
    "RecordWarning",
    "RegistryClient",
    "RegistryError",
    "Rejection",
    "Retraction",
    "RetractionReason",
    "Rotation",
    "ServerError",
    "SpecialEvent",
    "SubmissionResult",
    "TokenCache",
    "TokenKey",
    "TokenPair",
    "TokenQuotaExceededError",
    "TokenVerificationError",
    "Tradeline",
    "UnexpectedResponseError",
    "UntrustedKeyError",
    "UploadSummary",
    "UploadWarning",
    "ValidationError",
    "__version__",
    "backoff_delay",
    "format_money",
    "is_retryable",
    "new_idempotency_key",
    "normalize_id",
    "parse_retry_after",
]
