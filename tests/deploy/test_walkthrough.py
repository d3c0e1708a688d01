"""The README walk-through, step by step, against a live server: onboard a lender, upload
the example CSV, inquire about the demo applicant and see MULTI_LENDER."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from registry.cli import main as registry_cli
from registry.services.demo import DEMO_PEPPER
from tests.conftest import create_token_key

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
APPLICANT = "11010519491231002X"


def test_readme_walkthrough(live_server, database_url, monkeypatch, tmp_path):
    readme = (ROOT / "README.md").read_text()
    assert "lender-client upload docs/examples/acme-loans.csv" in readme
    assert APPLICANT in readme
    assert f"export REGISTRY_PEPPER={DEMO_PEPPER.hex()}" in readme

    monkeypatch.setenv("REGISTRY_DATABASE_URL", database_url)
    monkeypatch.setenv(
        "REGISTRY_OPRF_KEY_DIR", live_server.app.extensions["registry"].settings.oprf_key_dir
    )
    runner = CliRunner()
    assert runner.invoke(registry_cli, ["demo"]).exit_code == 0
    added = runner.invoke(registry_cli, ["lenders", "add", "acme", "Acme Credit"])
    assert added.exit_code == 0
    key = re.search(r"rk_\S+", added.output).group(0)

    env = {
        "REGISTRY_URL": live_server.url,
        "REGISTRY_API_KEY": key,
        "REGISTRY_PEPPER": DEMO_PEPPER.hex(),
        "REGISTRY_TOKEN_CACHE": str(tmp_path / "tokens.sqlite3"),
        "PATH": str(BIN),
        "COLUMNS": "120",
    }
    book = tmp_path / "acme-loans.csv"
    shutil.copy(ROOT / "docs/examples/acme-loans.csv", book)

    def lender_client(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "lender-client"), *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    upload = lender_client("upload", str(book), "--no-progress")
    assert upload.returncode == 1, upload.stdout + upload.stderr  # one row rejected
    assert re.search(r"Accepted\D+4", upload.stdout)
    assert re.search(r"Tokenised\D+5", upload.stdout), upload.stdout
    rejects = (tmp_path / "acme-loans.csv.rejected.csv").read_text().splitlines()
    assert rejects == [
        "line,loan_ref,field,message",
        "6,ACME-0005,due_on,must not be before opened_on",
    ]

    inquiry = lender_client(
        "inquire",
        "--id-kind",
        "cn_resident_id",
        "--id",
        APPLICANT,
        "--consent-ref",
        "APP-2026-0001",
        "--amount",
        "500000",
        "--currency",
        "CNY",
        "--json",
    )
    assert inquiry.returncode == 0, inquiry.stderr
    report = json.loads(inquiry.stdout)
    assert report["summary"]["lenders_with_open_loans"] == 3
    assert report["summary"]["other_lenders_with_open_loans"] == 2
    assert [flag["code"] for flag in report["flags"]] == ["MULTI_LENDER"]

    again = lender_client("upload", str(book), "--no-progress")
    assert re.search(r"Unchanged\D+4", again.stdout), again.stdout
    # The curl step: the same token, made by the CLI.
    token = lender_client("tokenize", "cn_resident_id", APPLICANT).stdout.strip()
    assert token == report["borrower"]


def test_readme_sdk_example_runs(live_server, new_lender, monkeypatch, capsys, tmp_path):
    """The README's SDK snippet, run as printed, against a live server."""
    create_token_key(live_server.app)
    monkeypatch.setenv("REGISTRY_PEPPER", DEMO_PEPPER.hex())
    monkeypatch.setenv("REGISTRY_TOKEN_CACHE", str(tmp_path / "tokens.sqlite3"))
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## The SDK") :]
    code = section[section.index("```python") + len("```python") : section.index("```\n", 10)]
    lender = new_lender()
    monkeypatch.setenv("REGISTRY_URL", live_server.url)
    monkeypatch.setenv("REGISTRY_API_KEY", lender.api_key)
    exec(compile(code, "README.md", "exec"), {})
    assert capsys.readouterr().out.splitlines()[-1] == "1 0 0 0"
