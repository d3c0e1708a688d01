"""Figures for the operator console: the dashboard (`overview`), the lenders table and one
lender's statistics and data quality (`lender_figures`), and the rows of the policy form and
the lender menus (`choices`). They only read; the cache of the whole-book totals is
`registry.totals_cache`."""

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
    "QUALITY_FORMULA",
    "QUALITY_WINDOW_DAYS",
    "REJECTION_SAMPLE",
    "REVIEW_WINDOW_DAYS",
    "BookTotals",
    "LenderRow",
    "LenderStats",
    "Overview",
    "Quality",
    "ReviewSpike",
    "RuleRow",
    "SubmissionRow",
    "book_totals",
    "data_quality_score",
    "day_of",
    "inquiries_by_purpose",
    "lender_choices",
    "lender_stats",
    "lender_table",
    "overview",
    "policy_rows",
    "review_spikes",
]
