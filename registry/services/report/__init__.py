"""The over-indebtedness report's parts, computed from one borrower's rows.

- `book.py`: the read by token (the loans with their lenders' exit and every stored
  month of the 24-month strings) into plain `LoanRow`s;
- `tradelines.py`: retention, freshness, lender labels and one tradeline per loan;
- `figures.py`: the summary's figures (negative history, debt burden, velocity, freshness);
- `flags.py`: the policy's flags from those figures;
- `applications.py`: other lenders' new_credit inquiries with their outcomes, read by token
  in one statement: the inquiry windows, pending applications, and the approvals still
  provisional as `LoanRow`s (status `provisional`) that become tradelines like loans;
- `identity.py`: the identity figures from the borrower's phone tokens (never shown);
- `obligations.py`: the open disputes marked on the tradelines (an overdue one takes its
  tradeline out of the flags) and the borrower's statement, read by token in one statement.

Everything below `book.py` is pure: rows and a clock in, figures out, so that a test can
recompute each of them by brute force. `registry.services.inquiries` assembles the report.
"""
