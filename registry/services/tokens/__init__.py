"""Borrower tokens, registry side (RFC 9497 VOPRF): the published key (`keys`), batched
evaluation (`evaluation`) under a daily quota (`quota`), rotation windows (`rotation`) and
the one blinded element an operator's browser sends for a look-up by ID (`id_lookup`).

Like every service, these work inside the caller's unit of work and flush; the caller (a
request, a command) begins and ends it with `registry.db.transaction`.
"""

from registry.services.tokens.evaluation import (
    MAX_ELEMENTS,
    Batch,
    Evaluation,
    charge_batch,
    decode_elements,
    evaluate,
)
from registry.services.tokens.id_lookup import (
    OPERATOR_EVALUATIONS_PER_DAY,
    charge_operator_evaluation,
)
from registry.services.tokens.keys import (
    MODE,
    KeyInfo,
    PublishedKey,
    RotationWindow,
    TokensUnavailable,
    has_current_key,
    init_key,
    key_info,
    open_rotation,
    pepper_fingerprints,
    set_pepper_fingerprint,
)
from registry.services.tokens.quota import QuotaExceeded, set_quota, usage_today
from registry.services.tokens.rotation import (
    WRONG_PEPPER_OR_KEY,
    LenderProgress,
    RetireResult,
    cancel_rotation,
    retire_rotation,
    rotation_progress,
    start_rotation,
)

__all__ = [
    "MAX_ELEMENTS",
    "MODE",
    "OPERATOR_EVALUATIONS_PER_DAY",
    "WRONG_PEPPER_OR_KEY",
    "Batch",
    "Evaluation",
    "KeyInfo",
    "LenderProgress",
    "PublishedKey",
    "QuotaExceeded",
    "RetireResult",
    "RotationWindow",
    "TokensUnavailable",
    "cancel_rotation",
    "charge_batch",
    "charge_operator_evaluation",
    "decode_elements",
    "evaluate",
    "has_current_key",
    "init_key",
    "key_info",
    "open_rotation",
    "pepper_fingerprints",
    "retire_rotation",
    "rotation_progress",
    "set_pepper_fingerprint",
    "set_quota",
    "start_rotation",
    "usage_today",
]
