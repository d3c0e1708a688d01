"""`lender-client` with borrowers named by ID, against the live registry: tokenize, upload and
inquire by ID, trust-key, token-key and retokenize."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from lender_client import RegistryClient, normalize_id
from lender_client.cache import TokenCache
from lender_client.cli import cli
from tests.sdk.fakes import PEPPER_A, phone, resident_id

pytestmark = pytest.mark.live

TODAY = datetime.now(UTC).date()
AS_OF = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
ID_HEADER = (
    "loan_ref,id_kind,id_value,product,currency,principal,outstanding,opened_on,due_on,"
    "status,days_past_due,as_of"
)


def id_line(ref: str, kind: str, value: str) -> str:
    opened = (TODAY - timedelta(days=90)).isoformat()
    due = (TODAY + timedelta(days=275)).isoformat()
    return f"{ref},{kind},{value},cash_loan,CNY,1000000,800000,{opened},{due},open,0,{AS_OF}"


@pytest.fixture
def live_key(live_server: Any) -> Any:
    from tests.conftest import create_token_key

    return create_token_key(live_server.app)


@pytest.fixture
def pepper_file(tmp_path: Path) -> Path:
    path = tmp_path / "pepper.hex"
    path.write_text(PEPPER_A + "\n")
    path.chmod(0o600)
    return path


@pytest.fixture
def env(
    live_server: Any, live_key: Any, new_lender: Any, tmp_path: Path, pepper_file: Path
) -> dict[str, str]:
    return {
        "REGISTRY_URL": live_server.url,
        "REGISTRY_API_KEY": new_lender().api_key,
        "REGISTRY_PEPPER_FILE": str(pepper_file),
        "REGISTRY_TOKEN_CACHE": str(tmp_path / "cache" / "tokens.sqlite3"),
        "XDG_DATA_HOME": str(tmp_path / "xdg"),
    }


@pytest.fixture
def run(env: dict[str, str]) -> Callable[..., Result]:
    def invoke(*args: str, input: str | None = None, **extra: str) -> Result:
        runner = CliRunner(env={**env, **extra})
        return runner.invoke(cli, list(args), input=input, catch_exceptions=False)

    return invoke


def sdk_token(env: dict[str, str], kind: str, value: str) -> str:
    with RegistryClient(
        env["REGISTRY_URL"], env["REGISTRY_API_KEY"], pepper=PEPPER_A, token_cache="none"
    ) as client:
        return client.tokenize(kind, value)


def test_tokenize_prints_the_sdk_token(run: Callable[..., Result], env: dict[str, str]) -> None:
    rid = resident_id(5)
    result = run("tokenize", "cn_resident_id", "-", input=rid + "\n")
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert token == sdk_token(env, "cn_resident_id", rid)
    both = run("tokenize", "--both", "--json", "cn_resident_id", rid.lower())
    assert json.loads(both.stdout) == {"borrower": token, "borrower_next": None, "rotation": None}

    bad = run("tokenize", "cn_resident_id", rid[:-1] + "Y")
    assert bad.exit_code == 2 and "bad characters" in bad.output and rid[:-1] not in bad.output


def test_no_pepper_is_a_usage_error(run: Callable[..., Result]) -> None:
    result = run("tokenize", "phone", phone(1), REGISTRY_PEPPER_FILE="")
    assert result.exit_code == 2 and "REGISTRY_PEPPER" in result.output


def test_upload_by_id_then_inquire_by_id(
    run: Callable[..., Result], env: dict[str, str], tmp_path: Path, new_lender: Any
) -> None:
    good = [resident_id(n) for n in range(6)]
    bad = good[3][:-1] + ("0" if good[3][-1] != "0" else "1")
    lines = [
        ID_HEADER,
        *(id_line(f"L-{n}", "cn_resident_id", rid) for n, rid in enumerate(good) if n != 3),
        id_line("L-3", "cn_resident_id", bad),  # line 7
        id_line("L-9", "passport", "X"),  # line 8
    ]
    book = tmp_path / "book.csv"
    book.write_text("\n".join(lines) + "\n")
    result = run("upload", str(book), "--batch-size", "2")
    assert result.exit_code == 1, result.output
    assert "Tokenised (named by ID)" in result.stdout
    with Path(f"{book}.rejected.csv").open(newline="") as handle:
        rejects = list(csv.DictReader(handle))
    assert [(r["line"], r["loan_ref"], r["field"]) for r in rejects] == [
        ("7", "L-3", "id_value"),
        ("8", "L-9", "id_value"),
    ]
    assert "not a valid cn_resident_id: bad check digit" in rejects[0]["message"]
    text = result.output + Path(f"{book}.rejected.csv").read_text()
    assert bad not in text and not any(rid in text for rid in good)

    # Another lender, same pepper, asks about one of them by ID.
    other = new_lender().api_key
    asked = run(
        "inquire",
        "--id-kind",
        "cn_resident_id",
        "--id",
        "-",
        "--consent-ref",
        "APP-1",
        "--json",
        input=good[1] + "\n",
        REGISTRY_API_KEY=other,
    )
    assert asked.exit_code == 0, asked.output
    report = json.loads(asked.stdout)
    assert report["summary"]["other_lenders_with_open_loans"] == 1
    assert report["borrower"] == sdk_token(env, "cn_resident_id", good[1])

    cache = Path(env["REGISTRY_TOKEN_CACHE"]).read_bytes()
    for rid in good:
        assert (
            rid.encode() not in cache and normalize_id("cn_resident_id", rid).encode() not in cache
        )


def test_trust_key_and_token_key(
    run: Callable[..., Result], env: dict[str, str], live_key: Any
) -> None:
    shown = run("token-key")
    assert shown.exit_code == 0, shown.output
    assert live_key.key_id in shown.stdout and "none (no window open)" in shown.stdout
    cache = TokenCache(env["REGISTRY_TOKEN_CACHE"])
    assert cache.pins() == {live_key.key_id: live_key.public_key.hex()}
    cache.close()

    import rfc9497

    _, other = rfc9497.generate_key_pair(rfc9497.Mode.VOPRF)
    changed = run("trust-key", live_key.key_id, other.hex())
    assert changed.exit_code == 0 and "new public key" in changed.stdout
    refused = run("tokenize", "phone", phone(1))
    assert refused.exit_code == 3 and "not the pinned one" in refused.output
    assert "trust-key" in refused.output
    restored = run("trust-key", live_key.key_id, live_key.public_key.hex())
    assert restored.exit_code == 0
    assert run("tokenize", "phone", phone(1)).exit_code == 0
    assert run("trust-key", "k", "zz").exit_code == 2
    assert run("trust-key", "k", other.hex(), REGISTRY_TOKEN_CACHE="none").exit_code == 2


def test_retokenize(run: Callable[..., Result], live_server: Any, tmp_path: Path) -> None:
    book = tmp_path / "open-book.csv"
    book.write_text(
        "\n".join(
            [
                ID_HEADER,
                id_line("L-1", "cn_resident_id", resident_id(1)),
                id_line("L-2", "cn_resident_id", resident_id(2)),
            ]
        )
        + "\n"
    )
    assert run("upload", str(book)).exit_code == 0
    refused = run("retokenize", str(book))
    assert refused.exit_code == 2 and "no rotation window is open" in refused.output

    from registry.db import make_session_factory, transaction
    from registry.models import RotationKind
    from registry.services import audit
    from registry.services import tokens as token_service

    state = live_server.app.extensions["registry"]
    with make_session_factory(state.engine)() as session, transaction(session):
        token_service.start_rotation(
            session, state.signer, RotationKind.PEPPER, datetime.now(UTC), audit.CLI, "p2"
        )
    no_next = run("retokenize", str(book))
    assert no_next.exit_code == 2 and "REGISTRY_PEPPER_NEXT" in no_next.output

    next_file = tmp_path / "next.hex"
    next_file.write_text("c3" * 32)
    next_file.chmod(0o600)
    done = run("--next-pepper-file", str(next_file), "retokenize", str(book))
    assert done.exit_code == 0, done.output
    assert "Re-tokenise summary" in done.stdout and "pepper rotation window open" in done.output


def test_help_answers_questions(run: Callable[..., Result]) -> None:
    top = run("--help").stdout
    for text in ("--pepper-file", "--token-cache", "--trust-new-keys", "tokenize", "trust-key"):
        assert text in top
    assert "id_kind" in run("upload", "--help").stdout
    assert "--id-kind" in run("inquire", "--help").stdout
    assert "rotation" in run("retokenize", "--help").stdout
    assert "ristretto255" in run("tokenize", "--help").stdout


def test_pepper_fingerprint_prints_what_the_registry_publishes(
    run: Callable[..., Result], live_server: Any, tmp_path: Path
) -> None:
    from lender_client import Pepper

    result = run("pepper-fingerprint", REGISTRY_PEPPER_NEXT="b2" * 32)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        f"current  {Pepper.from_hex(PEPPER_A).fingerprint}",
        f"next     {Pepper.from_hex('b2' * 32).fingerprint}",
    ]
    assert PEPPER_A not in result.output
    assert run("pepper-fingerprint", REGISTRY_PEPPER_FILE="").exit_code == 2
