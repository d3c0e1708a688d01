"""`report_loans(parallel=N)` and `lender-client upload --parallel N` against the live registry
(SQLite and PostgreSQL): batches in flight at once, yet counted, reported and positioned in
the order of the stream, and a re-run all unchanged."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from lender_client import BatchResult, RegistryClient
from lender_client.cli import cli
from tests.sdk.scripted import report

pytestmark = pytest.mark.live

AS_OF = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
BAD = 12  # the one record the registry rejects


def records(count: int) -> list[Any]:
    out = []
    for n in range(count):
        token = f"{n:064x}"
        changes: dict[str, Any] = {"borrower": token, "as_of": AS_OF}
        if n == BAD:
            changes["currency"] = "XXY"
        if n % 7 == 3:
            changes.update(status="written_off", days_past_due=120, amount_past_due=320_000)
            changes.update(closed_on=AS_OF.date())
        out.append(report(n, **changes))
    return out


def test_parallel_batches_are_counted_in_stream_order(live_server: Any, new_lender: Any) -> None:
    key = new_lender().api_key
    seen: list[BatchResult] = []
    with RegistryClient(live_server.url, key, timeout=30, max_retries=1) as client:
        summary = client.report_loans(records(23), batch_size=5, parallel=3, on_batch=seen.append)
        assert [b.batch for b in seen] == [0, 1, 2, 3, 4]
        assert [b.start_index for b in seen] == [0, 5, 10, 15, 20]
        assert summary.records == 23 and summary.accepted == 22
        (rejection,) = summary.rejected
        assert rejection.index == BAD and rejection.loan_ref == f"L-{BAD}"
        assert rejection.errors[0].field == "currency"
        assert client.get_loan("L-3").written_off_amount == 320_000
        assert client.get_loan("L-22").outstanding == 320_000

        again = client.report_loans(records(23), batch_size=4, parallel=2)
        assert (again.accepted, again.unchanged, again.rejected_count) == (0, 22, 1)
        with pytest.raises(ValueError, match="parallel"):
            client.report_loans(records(1), parallel=0)


def test_cli_upload_parallel(live_server: Any, new_lender: Any, tmp_path: Path) -> None:
    book = tmp_path / "book.csv"
    rows = [r.to_json() for r in records(23)]
    columns = sorted({name for row in rows for name in row})
    with book.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, columns)
        writer.writeheader()
        writer.writerows({k: ("" if v is None else v) for k, v in row.items()} for row in rows)
    env = {"REGISTRY_URL": live_server.url, "REGISTRY_API_KEY": new_lender().api_key}
    result = CliRunner().invoke(
        cli,
        ["upload", str(book), "--no-progress", "--batch-size", "4", "--parallel", "3"],
        env=env,
    )
    assert result.exit_code == 1, result.output  # one row rejected
    rejects = list(csv.DictReader((tmp_path / "book.csv.rejected.csv").read_text().splitlines()))
    assert [(r["line"], r["loan_ref"], r["field"]) for r in rejects] == [
        (str(BAD + 2), f"L-{BAD}", "currency")
    ]
    assert "22" in result.output
