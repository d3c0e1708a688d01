"""The README walk-through, its commands run as printed against a live server at a fixed
moment: onboard a lender, upload the example CSV, inquire about the demo applicant (MULTI_LENDER)
and about the applicant with a cured delinquency (PAST_DUE_HISTORY); then two lenders approve a
new applicant within the hour and a third lender's inquiry shows APPLICATION_BURST and
PENDING_ELSEWHERE before any loan is uploaded. The report tables the README prints are the
ones the commands print."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from click.testing import CliRunner
from sqlalchemy import func, select

import registry.cli as registry_cli_module
from registry.cli import main as registry_cli
from registry.clock import FrozenClock
from registry.db import make_session_factory
from registry.migrations import upgrade
from registry.models import BorrowerPhone
from registry.services.demo import CURED_BORROWER, DEMO_PEPPER, demo_id
from registry_protocol.ids import normalize_id
from tests.conftest import create_token_key
from tests.console.browser import serve
from tests.helpers import bearer

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
APPLICANT = "11010519491231002X"
CURED = demo_id(CURED_BORROWER)
HURRIED = "320106199203150025"  # the applicant approved twice within the hour
HURRIED_PHONE = "139 0000 2026"
DEMO_CACHE = "var/demo-token-cache.sqlite3"


# The walk-through runs at a fixed moment (the server's and the demo's clock), so that the
# report it prints is the one the README shows, and the example CSV's dates stay fresh.
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def walkthrough_commands(readme: str) -> list[list[str]]:
    """The commands of the README's walk-through, as printed: every ```sh block of the
    section, continuation lines joined, comments dropped."""
    start = readme.index("## Walk-through")
    section = readme[start : readme.index("\n## ", start + 1)]
    commands: list[list[str]] = []
    for block in re.findall(r"```sh\n(.*?)```", section, re.S):
        pending = ""
        for line in block.splitlines():
            if line.rstrip().endswith("\\"):
                pending += line.rstrip()[:-1] + " "
                continue
            words = shlex.split(pending + line, comments=True)
            pending = ""
            if words:
                commands.append(words)
    return commands


def printed_excerpt(readme: str, after: str) -> list[str]:
    """The lines of the output block the README prints after the command holding `after`."""
    start = readme.index(after)
    block = readme.index("```\n", readme.index("```\n", start) + 4) + 4
    return readme[block : readme.index("```", block)].splitlines()


def cells(line: str) -> tuple[str, ...]:
    return tuple(c.strip() for c in line.strip().strip("│┃").split("│"))


def assert_shows(output: str, excerpt: list[str]) -> None:
    """Every table row of `excerpt` is a row of `output` (cell by cell), and every other
    line of it (titles) a line of `output`; "..." stands for rows left out."""
    rows = {cells(line) for line in output.splitlines() if line.strip().startswith("│")}
    lines = {line.strip() for line in output.splitlines()}
    for line in excerpt:
        if line.strip() in ("", "..."):
            continue
        if line.strip().startswith("│"):
            assert cells(line) in rows, f"{line!r} not in:\n{output}"
        else:
            assert line.strip() in lines, f"{line!r} not in:\n{output}"


def test_readme_walkthrough(live_server, database_url, monkeypatch, tmp_path):
    readme = (ROOT / "README.md").read_text()
    assert f"export REGISTRY_PEPPER={DEMO_PEPPER.hex()}" in readme
    assert f"export REGISTRY_TOKEN_CACHE={DEMO_CACHE}" in readme
    monkeypatch.chdir(tmp_path)  # the README's relative var/ and docs/, here
    (tmp_path / "docs/examples").mkdir(parents=True)
    shutil.copy(ROOT / "docs/examples/acme-loans.csv", tmp_path / "docs/examples")

    monkeypatch.setenv("REGISTRY_DATABASE_URL", database_url)
    monkeypatch.setenv(
        "REGISTRY_OPRF_KEY_DIR", live_server.app.extensions["registry"].settings.oprf_key_dir
    )
    monkeypatch.setattr(live_server.app.extensions["registry"], "clock", FrozenClock(NOW))
    monkeypatch.setattr(registry_cli_module, "clock", FrozenClock(NOW))
    runner = CliRunner()
    assert runner.invoke(registry_cli, ["demo"]).exit_code == 0  # what `make run` did

    env = {"HOME": str(tmp_path / "home"), "PATH": str(BIN), "COLUMNS": "120"}
    key = ""
    ran: list[tuple[list[str], subprocess.CompletedProcess[str]]] = []
    for words in walkthrough_commands(readme):
        if words[0] == ".":  # activating the virtualenv: PATH is set above
            continue
        if words[0] == "registry":
            result = runner.invoke(registry_cli, words[1:])
            assert result.exit_code == 0, result.output
            key = re.findall(r"rk_\S+", result.output)[0]
        elif words[0] == "export":
            name, _, value = words[1].partition("=")
            value = {"REGISTRY_URL": live_server.url, "REGISTRY_API_KEY": key}.get(name, value)
            env[name] = value
        elif words[0] == "lender-client":
            if words[1] == "outcome":
                # The README's stand-in for the inquiry id the report above printed.
                assert "..." in words[2], words
                words = [*words[:2], last_inquiry_id(ran), *words[3:]]
            run = subprocess.run(
                [str(BIN / words[0]), *words[1:]],  # as printed (no terminal: no progress bar)
                env=env,
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=120,
            )
            ran.append((words, run))
        elif words[0] == "cat":
            rejects = (tmp_path / words[1]).read_text().splitlines()
            assert rejects == [
                "line,loan_ref,field,message",
                "6,ACME-0005,due_on,must not be before opened_on",
            ]
    [upload] = [run for words, run in ran if words[1] == "upload"]
    inquiries = [(words, run) for words, run in ran if words[1] == "inquire"]
    assert [words[words.index("--id") + 1] for words, _ in inquiries] == [
        APPLICANT,
        CURED,
        HURRIED,
        HURRIED,
        HURRIED,
    ]

    assert upload.returncode == 1, upload.stdout + upload.stderr  # one row rejected
    assert re.search(r"Accepted\D+4", upload.stdout)
    assert re.search(r"Tokenised\D+5", upload.stdout), upload.stdout

    # 3. The applicant: three lenders, MULTI_LENDER and nothing else.
    words, first = inquiries[0]
    assert first.returncode == 0, first.stderr
    assert_shows(first.stdout, printed_excerpt(readme, f"--id {APPLICANT}"))
    report = lender_client_json(words, env, tmp_path)
    assert report["summary"]["lenders_with_open_loans"] == 3
    assert report["summary"]["other_lenders_with_open_loans"] == 2
    assert [flag["code"] for flag in report["flags"]] == ["MULTI_LENDER"]
    assert [line["own"] for line in report["tradelines"]].count(True) == 1

    # 4. The cured applicant: current everywhere now, 75 days late in the last 12 months.
    words, second = inquiries[1]
    assert second.returncode == 0, second.stderr
    assert_shows(second.stdout, printed_excerpt(readme, f"--id {CURED}"))
    report = lender_client_json(words, env, tmp_path)
    assert [flag["code"] for flag in report["flags"]] == ["PAST_DUE_HISTORY"]
    assert report["summary"]["max_days_past_due"] == 0
    assert report["summary"]["worst_days_past_due_12m"] == 75
    assert all(line["days_past_due"] == 0 for line in report["tradelines"])
    assert any("3" in line["status_24m"] for line in report["tradelines"])

    check_the_burst(readme, ran, inquiries[2:], env, tmp_path, live_server)

    again = subprocess.run(
        [str(BIN / "lender-client"), *upload_words(ran), "--no-progress"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert re.search(r"Unchanged\D+4", again.stdout), again.stdout
    # The curl step: the same token, made by the CLI.
    token = subprocess.run(
        [str(BIN / "lender-client"), "tokenize", "cn_resident_id", APPLICANT],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout.strip()
    first_report = lender_client_json(inquiries[0][0], env, tmp_path)
    assert token == first_report["borrower"]


Ran = list[tuple[list[str], subprocess.CompletedProcess[str]]]


def last_inquiry_id(ran: Ran) -> str:
    """The inquiry id on the first line of the last `lender-client inquire`'s printout."""
    run = next(run for words, run in reversed(ran) if words[1] == "inquire")
    assert run.returncode == 0, run.stdout + run.stderr
    match = re.match(r"Inquiry (\S+)", run.stdout)
    assert match, run.stdout
    return match.group(1)


def check_the_burst(
    readme: str, ran: Ran, hurried: Ran, env: dict[str, str], cwd: Path, live_server: Any
) -> None:
    """5-7: Lendwell and QuickCash approve the applicant within the hour (their reports say
    nothing alarming); Acme's inquiry then shows both provisional loans, APPLICATION_BURST and
    PENDING_ELSEWHERE, with no loan of the applicant uploaded anywhere."""
    outcomes = [(words, run) for words, run in ran if words[1] == "outcome"]
    assert [words[words.index("--loan-ref") + 1] for words, _ in outcomes] == [
        "LW-0815",
        "QC-4711",
    ]
    for (words, run), (_, inquiry) in zip(outcomes, hurried, strict=False):
        assert run.returncode == 0, run.stdout + run.stderr
        assert words[2] in inquiry.stdout.splitlines()[0]  # the id the report printed
        assert "approved" in run.stdout and "Provisional until" in run.stdout
        loan_ref = words[words.index("--loan-ref") + 1]
        assert f"provisional loan until you report {loan_ref}" in run.stdout
    for _, inquiry in hurried[:2]:
        assert inquiry.returncode == 0, inquiry.stderr
        assert "No flags." in inquiry.stdout, inquiry.stdout  # nothing alarming yet
        assert "lender-client outcome" in inquiry.stdout  # how to say what came of it
    words, third = hurried[2]
    assert third.returncode == 0, third.stderr
    assert_shows(third.stdout, printed_excerpt(readme, "--consent-ref APP-2026-0003"))
    report = lender_client_json(words, env, cwd)
    summary = report["summary"]
    assert [flag["code"] for flag in report["flags"]] == ["APPLICATION_BURST", "PENDING_ELSEWHERE"]
    assert summary["open_loans"] == 0 and summary["outstanding"] == {}
    assert summary["other_lenders_inquiring"]["1h"] == 2
    assert summary["other_lenders_inquiring"]["24h"] == 2
    assert summary["pending_applications"] == 0  # both have an outcome
    assert summary["provisional_loans"] == 2
    assert summary["provisional_amount"] == {"CNY": 600_000}
    assert sorted(
        (line["status"], line["product"], line["outstanding"]) for line in report["tradelines"]
    ) == [("provisional", None, 300_000), ("provisional", None, 300_000)]
    assert report["identity"] == {"phones_90d": 1, "max_borrowers_per_phone": 1}
    # The phone reached the registry as a token only, and no answer carries even that.
    phone_token = subprocess.run(
        [str(BIN / "lender-client"), "tokenize", "phone", HURRIED_PHONE],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout.strip()
    assert len(phone_token) == 64
    canonical = normalize_id("phone", HURRIED_PHONE)
    for _, run in ran:
        assert phone_token not in run.stdout and "phone_token" not in run.stdout
        assert canonical not in run.stdout + run.stderr
    state = live_server.app.extensions["registry"]
    with make_session_factory(state.engine)() as session:
        stored = session.scalars(
            select(BorrowerPhone.phone).where(
                BorrowerPhone.borrower == bytes.fromhex(report["borrower"])
            )
        ).all()
    assert [phone.hex() for phone in stored] == [phone_token]


def upload_words(ran: list[tuple[list[str], subprocess.CompletedProcess[str]]]) -> list[str]:
    return next(words[1:] for words, _ in ran if words[1] == "upload")


def lender_client_json(words: list[str], env: dict[str, str], cwd: Path) -> Any:
    """The same command with --json: the report's figures, exactly."""
    run = subprocess.run(
        [str(BIN / "lender-client"), *words[1:], "--json"],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def _printed_inquire(output: str, cwd: Path, home: Path) -> subprocess.CompletedProcess[str]:
    """Run the `lender-client inquire` line that `registry demo` printed, as printed."""
    [line] = [line for line in output.splitlines() if "lender-client inquire" in line]
    words = shlex.split(line)
    env = {"PATH": str(BIN), "HOME": str(home), "COLUMNS": "120"}
    while "=" in words[0]:
        name, _, value = words.pop(0).partition("=")
        env[name] = value
    assert words[0] == "lender-client" and "REGISTRY_TOKEN_CACHE" in env, line
    return subprocess.run(
        [str(BIN / words[0]), *words[1:]],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_demo_commands_work_after_make_clean_and_with_a_new_key(tmp_path, monkeypatch):
    """`make clean && make run`, then the printed command, three times: a first demo; a fresh
    one after `make clean` (var/ gone); and one whose database and key are new while var/'s
    token cache stayed. Each time the registry has a new key and the printed command works
    with no manual step, while a lender's ordinary cache that pinned the old key still
    refuses the new one (production stays strict)."""
    monkeypatch.chdir(tmp_path)  # make's working directory: var/ is here
    database_url = "sqlite:///var/registry.db"
    monkeypatch.setenv("REGISTRY_DATABASE_URL", database_url)
    monkeypatch.setenv("REGISTRY_OPRF_KEY_DIR", "var/oprf-keys")
    monkeypatch.delenv("REGISTRY_ENV", raising=False)
    home = tmp_path / "home"
    strict_cache = tmp_path / "lenders-own-cache.sqlite3"
    public_keys = []
    for attempt in ("first run", "after make clean", "new key, old var/ cache"):
        if attempt == "after make clean":
            shutil.rmtree(tmp_path / "var")
        elif attempt == "new key, old var/ cache":
            for stale in (tmp_path / "var").glob("registry.db*"):
                stale.unlink()
            shutil.rmtree(tmp_path / "var" / "oprf-keys")
            assert (tmp_path / DEMO_CACHE).exists()
        upgrade(database_url)
        with serve(database_url) as base:
            demo = CliRunner().invoke(registry_cli, ["demo", "--url", base])
            assert demo.exit_code == 0, demo.output
            inquiry = _printed_inquire(demo.output, tmp_path, home)
            assert inquiry.returncode == 0, (attempt, inquiry.stdout + inquiry.stderr)
            assert "MULTI_LENDER" in inquiry.stdout, attempt
            key = re.findall(r"REGISTRY_API_KEY=(\S+)", demo.output)[0]
            published = requests.get(f"{base}/v1/tokens/key", headers=bearer(key), timeout=10)
            public_keys.append(published.json()["public_key"])
            # A lender's own cache, pinned on the first registry, is not relaxed.
            strict = subprocess.run(
                [str(BIN / "lender-client"), "tokenize", "cn_resident_id", APPLICANT],
                env={
                    "PATH": str(BIN),
                    "HOME": str(home),
                    "REGISTRY_URL": base,
                    "REGISTRY_API_KEY": key,
                    "REGISTRY_PEPPER": DEMO_PEPPER.hex(),
                    "REGISTRY_TOKEN_CACHE": str(strict_cache),
                },
                capture_output=True,
                text=True,
                timeout=120,
            )
            if attempt == "first run":
                assert strict.returncode == 0, strict.stderr
            else:
                assert strict.returncode != 0 and "trust-key" in strict.stderr, strict.stderr
    assert len(set(public_keys)) == 3, "each registry should have had a key of its own"


def test_readme_sdk_example_runs(live_server, new_lender, monkeypatch, capsys, tmp_path):
    """The README's SDK snippet, run as printed, against a live server."""
    create_token_key(live_server.app)
    monkeypatch.setenv("REGISTRY_PEPPER", DEMO_PEPPER.hex())
    monkeypatch.setenv("REGISTRY_TOKEN_CACHE", str(tmp_path / "tokens.sqlite3"))
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## The SDK") :]
    start = section.index("```python") + len("```python")
    code = section[start : section.index("```\n", start)]
    lender = new_lender()
    monkeypatch.setenv("REGISTRY_URL", live_server.url)
    monkeypatch.setenv("REGISTRY_API_KEY", lender.api_key)
    exec(compile(code, "README.md", "exec"), {})
    assert capsys.readouterr().out.splitlines()[-1] == "1 0 0 0"


def test_the_demo_has_applications_with_outcomes_and_phones(live_server, database_url, monkeypatch):
    """What `make run` loads for issue 10: most demo applications have an outcome (approved,
    declined, withdrawn), a few recent ones are pending, approvals not reported are
    provisional loans in other lenders' reports, and three demo borrowers share a phone
    (SHARED_PHONE). Every demo borrower is named by resident ID, never by phone."""
    from registry.models import ApplicationOutcome, Inquiry, PhoneBorrower
    from registry.services.demo import DemoTokens
    from registry.services.demo_applications import SHARED_PHONE_BORROWERS

    state = live_server.app.extensions["registry"]
    monkeypatch.setenv("REGISTRY_DATABASE_URL", database_url)
    monkeypatch.setenv("REGISTRY_OPRF_KEY_DIR", state.settings.oprf_key_dir)
    monkeypatch.setattr(state, "clock", FrozenClock(NOW))
    monkeypatch.setattr(registry_cli_module, "clock", FrozenClock(NOW))
    demo = CliRunner().invoke(registry_cli, ["demo"])
    assert demo.exit_code == 0, demo.output
    key = re.findall(r"^\s+lendwell\s+(rk_\S+)", demo.output, re.M)[0]
    with make_session_factory(state.engine)() as session:
        outcomes = session.scalars(select(ApplicationOutcome.outcome)).all()
        inquiries = session.scalar(select(func.count()).select_from(Inquiry)) or 0
        shared = session.execute(
            select(PhoneBorrower.phone, func.count())
            .group_by(PhoneBorrower.phone)
            .having(func.count() >= 3)
        ).all()
        tokens = DemoTokens(session, state.signer, NOW)
        ring = [tokens(number) for number in SHARED_PHONE_BORROWERS]
        session.rollback()
    assert set(outcomes) == {"approved", "declined", "withdrawn"}
    assert 0 < inquiries - len(outcomes) < inquiries // 10  # a few still pending
    assert [count for _, count in shared] == [3]
    report = requests.post(
        f"{live_server.url}/v1/inquiries",
        headers=bearer(key),
        json={"borrower": ring[1], "purpose": "new_credit", "consent_ref": "demo-ring"},
        timeout=30,
    ).json()
    assert report["identity"]["max_borrowers_per_phone"] == 3
    assert "SHARED_PHONE" in [flag["code"] for flag in report["flags"]]
