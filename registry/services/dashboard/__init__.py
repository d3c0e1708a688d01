"""Figures for the operator console: the dashboard (`overview`), the lenders table and one
lender's statistics and data quality (`lender_figures`), applications and their outcomes
(`applications`), and the rows of the policy form and the lender menus (`choices`). They only
read; the cache of the whole-book totals is `registry.totals_cache`."""

from registry.services.dashboard.applications import (
    EXPIRED_SAMPLE,
    NO_OUTCOME,
    OUTCOME_RATE_DAYS,
    OUTCOME_SERIES,
    ExpiredProvisional,
    OutcomeRate,
    ProvisionalLoan,
    borrower_provisional_loans,
    expired_provisional,
    lender_outcome_rate,
)
from registry.services.dashboard.choices import RuleRow, lender_choices, policy_rows
from registry.services.dashboard.lender_figures import (
    QUALITY_FORMULA,
    QUALITY_WINDOW_DAYS,
    REJECTION_SAMPLE,
    LenderRow,
    LenderStats,
    Quality,
    SubmissionRow,
    data_quality_score,
    lender_stats,
    lender_table,
)
from registry.services.dashboard.overview import (
    ACTIVITY_DAYS,
    DISTRIBUTION_BUCKETS,
    BookTotals,
    Overview,
    book_totals,
    day_of,
    overview,
)
from registry.services.dashboard.reviews import (
    REVIEW_WINDOW_DAYS,
    ReviewSpike,
    inquiries_by_purpose,
    review_spikes,
)

__all__ = [
    "ACTIVITY_DAYS",
    "DISTRIBUTION_BUCKETS",
    "EXPIRED_SAMPLE",
    "NO_OUTCOME",
    "OUTCOME_RATE_DAYS",
    "OUTCOME_SERIES",
    "QUALITY_FORMULA",
    "QUALITY_WINDOW_DAYS",
    "REJECTION_SAMPLE",
    "REVIEW_WINDOW_DAYS",
    "BookTotals",
    "ExpiredProvisional",
    "LenderRow",
    "LenderStats",
    "OutcomeRate",
    "Overview",
    "ProvisionalLoan",
    "Quality",
    "ReviewSpike",
    "RuleRow",
    "SubmissionRow",
    "book_totals",
    "borrower_provisional_loans",
    "data_quality_score",
    "day_of",
    "expired_provisional",
    "inquiries_by_purpose",
    "lender_choices",
    "lender_outcome_rate",
    "lender_stats",
    "lender_table",
    "overview",
    "policy_rows",
    "review_spikes",
]
