"""The upload summary counts every row once: read, rejected locally (unreadable rows and IDs
that are not valid, never sent), sent, and rejected by the registry (issue 13, item 5)."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from lender_client.cli import cli
from tests.sdk.scripted import API_KEY, Reply, ScriptedServer, report, submission


def table_value(output: str, label: str) -> str:
    """The value on the row of a rich table that starts with ``label``."""
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip("│┃ ").split("│")]
        if cells and cells[0] == label:
            return cells[-1]
    raise AssertionError(f"no row {label!r} in:\n{output}")


def line_for(ref: str, **changes: Any) -> str:
    record = report(0).to_json()
    record["loan_ref"] = ref
    record.update(changes)
    if "id_kind" in changes:
        del record["borrower"]
    return json.dumps(record)


def test_summary_counts_rows_read_rejected_locally_sent_and_rejected_by_the_registry(
    server: ScriptedServer, tmp_path: Path
) -> None:
    book = tmp_path / "book.jsonl"
    lines = [
        line_for("L-1"),  # 1: accepted
        '{"loan_ref": "L-2", oops}',  # 2: unreadable
        line_for("L-3", id_kind="cn_resident_id", id_value="123"),  # 3: invalid ID, not sent
        line_for("L-4", currency="yuan"),  # 4: rejected by the registry
        line_for("L-5", id_kind="shoe_size", id_value="42"),  # 5: unknown kind, not sent
        "[1, 2]",  # 6: unreadable (not an object)
        line_for("L-7", currency="CN"),  # 7: rejected by the registry
        line_for("L-8"),  # 8: accepted
    ]
    book.write_text("\n".join(lines) + "\n")
    errors = [{"field": "loans[1].currency", "message": "not an ISO 4217 code"}]
    more = [{"field": "loans[2].currency", "message": "not an ISO 4217 code"}]
    server.script(
        Reply(
            200,
            submission(
                2,
                [
                    {"index": 1, "loan_ref": "L-4", "errors": errors},
                    {"index": 2, "loan_ref": "L-7", "errors": more},
                ],
            ),
        )
    )
    result = CliRunner().invoke(
        cli,
        ["--url", server.url, "--api-key", API_KEY, "upload", str(book), "--no-progress"],
        catch_exceptions=False,
    )
    assert result.exit_code == 1, result.output
    out = result.stdout
    assert table_value(out, "Records read") == "8"
    assert table_value(out, "Rejected locally (not sent)") == "4"
    assert table_value(out, "Unreadable rows") == "2"
    assert table_value(out, "Sent to the registry") == "4"
    assert table_value(out, "Accepted") == "2"
    assert table_value(out, "Rejected by the registry") == "2"
    assert table_value(out, "Batches") == "1"
    sent = server.seen[0].json()["loans"]
    assert [loan["loan_ref"] for loan in sent] == ["L-1", "L-4", "L-7", "L-8"]

    with Path(f"{book}.rejected.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["line"], r["loan_ref"], r["field"]) for r in rows] == [
        ("2", "", ""),
        ("3", "L-3", "id_value"),
        ("4", "L-4", "currency"),
        ("5", "L-5", "id_kind"),
        ("6", "", ""),
        ("7", "L-7", "currency"),
    ]
    assert all(r["message"] for r in rows)
    assert "123" not in rows[1]["message"]  # the reason, never the ID
    assert f"{len(rows)} rejected row(s) written to" in out.replace("\n", "")
