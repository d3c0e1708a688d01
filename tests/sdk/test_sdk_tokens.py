"""Borrower tokens in the SDK: pepper, VOPRF with proof checking, key pins, cache, batching,
rotation, and the raw ID never leaving the process. Most tests run against an in-process fake
of the token endpoints (tests/sdk/fakes.py); the last ones against the live registry."""

from __future__ import annotations

import logging
import sqlite3
import stat
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from lender_client import (
    ConfigurationError,
    InvalidIdError,
    LoanReport,
    Pepper,
    RegistryClient,
    TokenQuotaExceededError,
    TokenVerificationError,
    UntrustedKeyError,
    normalize_id,
)
from lender_client.cache import TokenCache, default_cache_path, resolve_cache_path
from registry_protocol.ids import token_input
from tests.sdk.fakes import (
    PEPPER_A,
    PEPPER_B,
    FakeRegistry,
    RecordingSession,
    fake_client,
    phone,
    resident_id,
)

RID = resident_id(123)
PASSPORT = "CHN:E12345678"
AS_OF = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


def by_id(ref: str, kind: str, value: str, **overrides: Any) -> LoanReport:
    values: dict[str, Any] = {
        "loan_ref": ref,
        "id_kind": kind,
        "id_value": value,
        "product": "cash_loan",
        "currency": "CNY",
        "principal": 1_000_000,
        "outstanding": 800_000,
        "opened_on": date.today() - timedelta(days=90),
        "due_on": date.today() + timedelta(days=275),
        "status": "open",
        "days_past_due": 0,
        "as_of": AS_OF,
    }
    values.update(overrides)
    return LoanReport(**values)


def secrets_of(value: str, kind: str = "cn_resident_id") -> list[bytes]:
    """The forms of an ID that must never be seen outside the process."""
    canonical = normalize_id(kind, value)
    return [value.encode(), canonical.encode(), token_input(kind, canonical)]


# -- the pepper ------------------------------------------------------------------------------


def test_pepper_loading_and_repr(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pepper = Pepper.from_hex(PEPPER_A)
    assert PEPPER_A not in repr(pepper) and PEPPER_A not in str(pepper)
    assert "a1a1" not in repr(pepper)
    path = tmp_path / "pepper.hex"
    path.write_text(PEPPER_A.upper() + "\n")
    path.chmod(0o600)
    assert Pepper.from_file(path) == pepper
    assert Pepper.from_hex(PEPPER_B) != pepper

    monkeypatch.setenv("REGISTRY_PEPPER_FILE", str(path))
    monkeypatch.delenv("REGISTRY_PEPPER", raising=False)
    client = fake_client(FakeRegistry(), pepper=None)
    assert client.tokenizer.pepper == pepper
    assert PEPPER_A not in repr(client.tokenizer)

    monkeypatch.setenv("REGISTRY_PEPPER", PEPPER_A)
    with pytest.raises(ConfigurationError, match="not both"):
        fake_client(FakeRegistry(), pepper=None)


def test_a_bad_pepper_is_refused_without_showing_it(tmp_path: Path) -> None:
    secret = "zz" + "a1" * 31
    with pytest.raises(ConfigurationError) as caught:
        Pepper.from_hex(secret)
    assert secret not in str(caught.value) and "64 hexadecimal" in str(caught.value)
    path = tmp_path / "short.hex"
    path.write_text("abcd")
    with pytest.raises(ConfigurationError, match="got 4 characters"):
        Pepper.from_file(path)
    with pytest.raises(ConfigurationError, match="cannot read"):
        Pepper.from_file(tmp_path / "missing")


def test_no_pepper_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("REGISTRY_PEPPER", "REGISTRY_PEPPER_FILE"):
        monkeypatch.delenv(name, raising=False)
    client = fake_client(FakeRegistry(), pepper=None)
    with pytest.raises(ConfigurationError, match="REGISTRY_PEPPER"):
        client.tokenize("cn_resident_id", RID)


# -- the scheme ------------------------------------------------------------------------------


def test_same_pepper_same_token_other_pepper_other_token() -> None:
    registry = FakeRegistry()
    one = fake_client(registry).tokenize("cn_resident_id", RID)
    # Another lender, another process, the ID typed differently: the same token.
    two = fake_client(registry).tokenize("cn_resident_id", " " + RID.lower() + " ")
    assert one == two and len(one) == 64 and one == one.lower()
    other = fake_client(registry, pepper=PEPPER_B).tokenize("cn_resident_id", RID)
    assert other != one
    # The kind is part of the input: the same digits as a passport number differ.
    assert fake_client(registry).tokenize("phone", phone(1)) != one


def test_token_matches_the_scheme_computed_by_hand() -> None:
    registry = FakeRegistry()
    token = fake_client(registry).tokenize("phone", phone(7))
    inner = Pepper.from_hex(PEPPER_A).mac(token_input("phone", normalize_id("phone", phone(7))))
    expected = oprf_evaluate(registry.current.sk, inner)[:32].hex()
    assert token == expected


def oprf_evaluate(sk: bytes, private_input: bytes) -> bytes:
    import rfc9497

    return rfc9497.evaluate(sk, private_input, rfc9497.Mode.VOPRF)


def test_a_tampered_evaluation_is_refused_and_nothing_is_cached(tmp_path: Path) -> None:
    registry = FakeRegistry()

    def swap(answer: dict[str, Any]) -> None:
        elements = answer["evaluated_elements"]
        elements[0], elements[1] = elements[1], elements[0]

    registry.tamper = swap
    client = fake_client(registry, token_cache=tmp_path / "cache.sqlite3")
    with pytest.raises(TokenVerificationError, match="does not verify"):
        client.tokenize_many([("phone", phone(1)), ("phone", phone(2))])
    assert client.token_cache is not None and client.token_cache.count() == 0

    def other_proof(answer: dict[str, Any]) -> None:
        answer["proof"] = "00" * 64

    registry.tamper = other_proof
    with pytest.raises(TokenVerificationError):
        client.tokenize("phone", phone(1))


def test_an_evaluation_under_an_unadvertised_key_is_refused() -> None:
    registry = FakeRegistry()
    # The registry advertises one public key and evaluates with another.
    registry.advertise_public_key = FakeRegistry().current.pk
    with pytest.raises(TokenVerificationError):
        fake_client(registry).tokenize("phone", phone(1))


# -- key pinning ----------------------------------------------------------------------------


def test_first_use_pins_the_key_and_a_changed_key_is_refused(tmp_path: Path) -> None:
    registry = FakeRegistry()
    cache = tmp_path / "cache.sqlite3"
    fake_client(registry, token_cache=cache).tokenize("phone", phone(1))
    pinned = TokenCache(cache)
    assert pinned.pins() == {"k1": registry.current.pk.hex()}
    pinned.close()

    # The registry now presents another public key under the same key id.
    old = registry.current
    registry.current = type(old).new("k1")
    client = fake_client(registry, token_cache=cache, trust_new_keys=True)
    with pytest.raises(UntrustedKeyError) as caught:
        client.tokenize("phone", phone(2))
    error = caught.value
    assert error.key_id == "k1" and error.pinned_public_key == old.pk.hex()
    assert error.public_key == registry.current.pk.hex() and "trust-key" in str(error)
    assert registry.count("/v1/tokens/evaluate") == 1  # nothing sent under the new key

    client.trust_key("k1", registry.current.pk.hex())
    assert len(client.tokenize("phone", phone(2))) == 64


def test_a_new_key_id_needs_trust(tmp_path: Path) -> None:
    registry = FakeRegistry()
    cache = tmp_path / "cache.sqlite3"
    fake_client(registry, token_cache=cache).tokenize("phone", phone(1))
    registry.current = type(registry.current).new("k9")
    with pytest.raises(UntrustedKeyError, match="new current token key 'k9'"):
        fake_client(registry, token_cache=cache).tokenize("phone", phone(1))
    assert len(fake_client(registry, token_cache=cache, trust_new_keys=True).token_key().key_id)
    pinned = TokenCache(cache)
    assert set(pinned.pins()) == {"k1", "k9"}
    pinned.close()


def test_trust_key_checks_the_key() -> None:
    client = fake_client(FakeRegistry())
    with pytest.raises(ValueError, match="64 hexadecimal"):
        client.trust_key("k1", "abc")
    with pytest.raises(ValueError, match="not a valid"):
        client.trust_key("k1", "ff" * 32)


# -- the cache -------------------------------------------------------------------------------


def test_cache_hit_avoids_a_second_request(tmp_path: Path) -> None:
    registry = FakeRegistry()
    cache = tmp_path / "cache.sqlite3"
    ids = [("phone", phone(n)) for n in range(5)]
    first = fake_client(registry, token_cache=cache).tokenize_many(ids)
    assert registry.evaluations == [5]
    # Another client (another run of the program) with the same cache file: no evaluation.
    again = fake_client(registry, token_cache=cache).tokenize_many(list(reversed(ids)))
    assert again == list(reversed(first)) and registry.evaluations == [5]
    # One new ID among known ones: only it is evaluated.
    fake_client(registry, token_cache=cache).tokenize_many([*ids, ("phone", phone(99))])
    assert registry.evaluations == [5, 1]
    # Another pepper never gets the cached tokens of the first.
    fake_client(registry, token_cache=cache, pepper=PEPPER_B).tokenize_many(ids)
    assert registry.evaluations == [5, 1, 5]


def test_cache_file_is_private_and_holds_no_id(tmp_path: Path) -> None:
    registry = FakeRegistry()
    path = tmp_path / "data" / "lender-client" / "tokens.sqlite3"
    client = fake_client(registry, token_cache=path)
    token = client.tokenize("cn_resident_id", RID)
    client.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    content = path.read_bytes()
    for secret in secrets_of(RID):
        assert secret not in content
    with sqlite3.connect(path) as db:
        tokens = [bytes(row[0]) for row in db.execute("SELECT token FROM tokens")]
    assert tokens == [bytes.fromhex(token)]


def test_cache_path_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REGISTRY_TOKEN_CACHE", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_cache_path() == tmp_path / "xdg" / "lender-client" / "tokens.sqlite3"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert default_cache_path() == Path.home() / ".local/share/lender-client/tokens.sqlite3"
    monkeypatch.setenv("REGISTRY_TOKEN_CACHE", "none")
    assert resolve_cache_path(None) is None
    monkeypatch.setenv("REGISTRY_TOKEN_CACHE", str(tmp_path / "x.sqlite3"))
    assert resolve_cache_path(None) == tmp_path / "x.sqlite3"
    assert resolve_cache_path(str(tmp_path / "y")) == tmp_path / "y"


# -- batching and order -----------------------------------------------------------------------


def test_2500_ids_take_three_requests_in_input_order() -> None:
    registry = FakeRegistry()
    ids = [("phone", phone(n)) for n in range(2_500)]
    tokens = fake_client(registry).tokenize_many(ids)
    assert registry.evaluations == [1000, 1000, 500]
    assert len(set(tokens)) == 2_500
    for n in (0, 999, 1000, 2499):
        assert tokens[n] == fake_client(registry).tokenize(*ids[n])


def test_duplicates_are_evaluated_once() -> None:
    registry = FakeRegistry()
    tokens = fake_client(registry).tokenize_many([("phone", phone(1))] * 3)
    assert registry.evaluations == [1] and len(set(tokens)) == 1


# -- bad IDs and privacy ---------------------------------------------------------------------


def test_bad_id_raises_without_the_value() -> None:
    bad = RID[:-1] + ("0" if RID[-1] != "0" else "1")
    client = fake_client(FakeRegistry())
    with pytest.raises(InvalidIdError) as caught:
        client.tokenize_many([("phone", phone(1)), ("cn_resident_id", bad)])
    text = str(caught.value) + repr(caught.value) + "".join(caught.value.__notes__)
    assert bad not in text and "check digit" in text and "position 1" in text


def test_report_by_id_rejects_bad_rows_by_index_and_sends_no_id(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="lender_client")
    registry = FakeRegistry()
    bad = RID[:-1] + ("0" if RID[-1] != "0" else "1")
    reports: list[Any] = [
        by_id("L-0", "cn_resident_id", RID),
        by_id("L-1", "cn_resident_id", bad),
        {**by_id("L-2", "passport", PASSPORT).to_json(), "id_kind": RID},  # columns swapped
        by_id("L-3", "passport", PASSPORT),
    ]
    summary = fake_client(registry).report_loans(reports, batch_size=2)
    assert (summary.accepted, summary.rejected_count, summary.tokenized) == (2, 2, 2)
    assert [(r.index, r.loan_ref, r.errors[0].field) for r in summary.rejected] == [
        (1, "L-1", "id_value"),
        (2, "L-2", "id_kind"),
    ]
    assert "bad check digit" in summary.rejected[0].reasons
    sent = registry.loans
    assert [loan["loan_ref"] for loan in sent] == ["L-0", "L-3"]
    assert all(len(loan["borrower"]) == 64 and "id_value" not in loan for loan in sent)
    assert sent[0]["borrower"] == fake_client(registry).tokenize("cn_resident_id", RID)

    everything = b"".join(registry.bodies) + caplog.text.encode()
    everything += repr(summary).encode() + repr(reports[0]).encode()
    for value, kind in ((RID, "cn_resident_id"), (bad, "cn_resident_id"), (PASSPORT, "passport")):
        for secret in secrets_of(value, kind) if value != bad else [bad.encode()]:
            assert secret not in everything


def test_inquire_by_id() -> None:
    registry = FakeRegistry()
    client = fake_client(registry)
    report = client.inquire(id_kind="cn_resident_id", id_value=RID, consent_ref="APP-1")
    assert report.borrower == client.tokenize("cn_resident_id", RID)
    assert registry.inquiries[0] == {
        "borrower": report.borrower,
        "purpose": "new_credit",
        "consent_ref": "APP-1",
    }
    with pytest.raises(InvalidIdError):
        client.inquire(id_kind="cn_resident_id", id_value="12", consent_ref="APP-1")
    with pytest.raises(ValueError, match="not both"):
        client.inquire("ab" * 32, id_kind="cn_resident_id", id_value=RID)


# -- rotation --------------------------------------------------------------------------------


def test_key_rotation_gives_both_tokens_and_sends_borrower_next(tmp_path: Path) -> None:
    registry = FakeRegistry()
    cache = tmp_path / "cache.sqlite3"
    before = fake_client(registry, token_cache=cache).tokenize("cn_resident_id", RID)
    nxt = registry.open_key_rotation("k2")
    client = fake_client(registry, token_cache=cache)
    with pytest.raises(UntrustedKeyError, match="new next token key 'k2'"):
        client.tokenize_pairs([("cn_resident_id", RID)])
    client.trust_key("k2", nxt.pk.hex())
    [pair] = client.tokenize_pairs([("cn_resident_id", RID)])
    assert pair.borrower == before and pair.borrower_next not in (None, before)
    assert client.token_key().rotation is not None

    client.report_loans([by_id("L-1", "cn_resident_id", RID)])
    client.inquire(id_kind="cn_resident_id", id_value=RID, consent_ref="APP-2")
    assert registry.loans[-1]["borrower_next"] == pair.borrower_next
    assert registry.inquiries[-1]["borrower_next"] == pair.borrower_next

    # Once the rotation is over, the next key is the current one: the same token.
    registry.current, registry.next_key, registry.rotation = nxt, None, None
    after = fake_client(registry, token_cache=cache).tokenize("cn_resident_id", RID)
    assert after == pair.borrower_next
    # Tokens under the retired key went from the cache as soon as the client saw it retired.
    with sqlite3.connect(cache) as db:
        assert {row[0] for row in db.execute("SELECT DISTINCT key_id FROM tokens")} == {"k2"}


def test_pepper_rotation_needs_the_next_pepper() -> None:
    registry = FakeRegistry()
    registry.open_pepper_rotation()
    client = fake_client(registry)
    assert len(client.tokenize("phone", phone(1))) == 64  # the current token alone works
    with pytest.raises(ConfigurationError, match="REGISTRY_PEPPER_NEXT"):
        client.tokenize_pairs([("phone", phone(1))])
    with pytest.raises(ConfigurationError, match="next pepper"):
        client.report_loans([by_id("L-1", "cn_resident_id", RID)])

    [pair] = fake_client(registry, next_pepper=PEPPER_B).tokenize_pairs([("phone", phone(1))])
    assert pair.borrower == fake_client(registry).tokenize("phone", phone(1))
    assert pair.borrower_next == fake_client(registry, pepper=PEPPER_B).tokenize("phone", phone(1))


# -- quota -----------------------------------------------------------------------------------


def test_quota_with_a_short_retry_after_is_waited_for() -> None:
    registry = FakeRegistry(quota_answers=[3])
    waits: list[float] = []
    token = fake_client(registry, sleep=waits.append).tokenize("phone", phone(1))
    assert len(token) == 64 and waits == [3.0]


def test_quota_used_up_for_the_day_raises_a_clear_error() -> None:
    registry = FakeRegistry(quota_answers=[7200])
    waits: list[float] = []
    with pytest.raises(TokenQuotaExceededError) as caught:
        fake_client(registry, sleep=waits.append).tokenize("phone", phone(1))
    assert waits == [] and caught.value.retry_after == 7200
    assert "renewed in 2 h 00 min" in str(caught.value)


# -- against the live registry ------------------------------------------------------------------


@pytest.fixture
def live_key(live_server: Any) -> Any:
    from tests.conftest import create_token_key

    return create_token_key(live_server.app)


def live_client(
    live_server: Any, api_key: str, tmp_path: Path, name: str, **kwargs: Any
) -> RegistryClient:
    kwargs.setdefault("pepper", PEPPER_A)
    kwargs.setdefault("token_cache", tmp_path / f"{name}.sqlite3")
    return RegistryClient(live_server.url, api_key, timeout=30, max_retries=1, **kwargs)


@pytest.mark.live
def test_live_upload_then_inquiry_by_id(
    live_server: Any,
    live_key: Any,
    new_lender: Any,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="lender_client")
    sessions = [RecordingSession(), RecordingSession()]
    acme = live_client(live_server, new_lender().api_key, tmp_path, "a", session=sessions[0])
    bravo = live_client(live_server, new_lender().api_key, tmp_path, "b", session=sessions[1])
    assert acme.token_key().key_id == live_key.key_id

    people = [resident_id(n) for n in range(30)]
    summary = acme.report_loans(
        (by_id(f"A-{n}", "cn_resident_id", rid) for n, rid in enumerate(people)), batch_size=20
    )
    assert (summary.accepted, summary.rejected_count, summary.tokenized) == (30, 0, 30)

    report = bravo.inquire(id_kind="cn_resident_id", id_value=people[7], consent_ref="APP-1")
    assert report.summary.other_lenders_with_open_loans == 1
    assert report.borrower == acme.get_loan("A-7").borrower
    other = live_client(live_server, new_lender().api_key, tmp_path, "c", pepper=PEPPER_B)
    assert other.tokenize("cn_resident_id", people[7]) != report.borrower

    everything = b"".join(body for s in sessions for _, _, body in s.sent) + caplog.text.encode()
    for rid in people:
        for secret in secrets_of(rid):
            assert secret not in everything


@pytest.mark.live
def test_live_quota(live_server: Any, live_key: Any, new_lender: Any, tmp_path: Path) -> None:
    from registry.db import make_session_factory, transaction
    from registry.services import audit, lenders
    from registry.services import tokens as token_service

    lender = new_lender()
    engine = live_server.app.extensions["registry"].engine
    with make_session_factory(engine)() as session, transaction(session):
        row = lenders.get_lender(session, lender.code)
        token_service.set_quota(session, row, 3, datetime.now(UTC), audit.CLI)
    client = live_client(live_server, lender.api_key, tmp_path, "q")
    client.tokenize_many([("phone", phone(n)) for n in range(3)])
    with pytest.raises(TokenQuotaExceededError) as caught:
        client.tokenize("phone", phone(4))
    assert caught.value.retry_after is not None and caught.value.retry_after > 0
    # Cached tokens still work.
    assert len(client.tokenize("phone", phone(1))) == 64


@pytest.mark.live
def test_live_key_rotation_sends_both_tokens(
    live_server: Any, live_key: Any, new_lender: Any, tmp_path: Path
) -> None:
    from registry.db import make_session_factory, transaction
    from registry.models import RotationKind
    from registry.services import audit
    from registry.services import tokens as token_service

    client = live_client(live_server, new_lender().api_key, tmp_path, "r", trust_new_keys=True)
    before = client.tokenize("cn_resident_id", RID)
    state = live_server.app.extensions["registry"]
    with make_session_factory(state.engine)() as session, transaction(session):
        token_service.start_rotation(
            session, state.signer, RotationKind.KEY, datetime.now(UTC), audit.CLI, "test"
        )
    client.token_key(refresh=True)
    [pair] = client.tokenize_pairs([("cn_resident_id", RID)])
    assert pair.borrower == before and pair.borrower_next is not None
    summary = client.report_loans([by_id("R-1", "cn_resident_id", RID)])
    assert summary.accepted == 1 and summary.rejected_count == 0
    report = client.inquire(id_kind="cn_resident_id", id_value=RID, purpose="account_review")
    assert report.borrower == before


def test_client_repr_shows_no_secret() -> None:
    client = fake_client(FakeRegistry())
    assert PEPPER_A not in repr(client) + repr(client.tokenizer)


@pytest.mark.live
def test_live_pepper_fingerprint_refuses_a_pepper_the_consortium_left(
    live_server: Any, live_key: Any, new_lender: Any, tmp_path: Path
) -> None:
    """With the pepper's fingerprint published, a lender that kept the old pepper after a
    pepper rotation (or has a wrong one) gets a clear error, not tokens matching nobody."""
    from registry.db import transaction
    from registry.models import RotationKind
    from registry.services import audit, tokens

    state = live_server.app.extensions["registry"]
    now = state.clock.now()
    with state.sessions() as session, transaction(session):
        tokens.set_pepper_fingerprint(
            session, Pepper.from_hex(PEPPER_A).fingerprint, now, audit.CLI
        )
    right = live_client(live_server, new_lender().api_key, tmp_path, "right")
    assert len(right.tokenize("phone", "+8613800138000")) == 64
    wrong = live_client(live_server, new_lender().api_key, tmp_path, "wrong", pepper=PEPPER_B)
    with pytest.raises(ConfigurationError, match="not the consortium's current pepper"):
        wrong.tokenize("phone", "+8613800138000")

    # A pepper rotation to B, announced with B's fingerprint.
    with state.sessions() as session, transaction(session):
        tokens.start_rotation(
            session,
            state.signer,
            RotationKind.PEPPER,
            now,
            audit.CLI,
            "member left",
            Pepper.from_hex(PEPPER_B).fingerprint,
        )
    mixed_up = live_client(
        live_server, new_lender().api_key, tmp_path, "mixed", next_pepper="c3" * 32
    )
    with pytest.raises(ConfigurationError, match="not the consortium's next pepper"):
        mixed_up.tokenize_pairs([("phone", "+8613800138000")])
    ready = live_client(live_server, new_lender().api_key, tmp_path, "ready", next_pepper=PEPPER_B)
    [pair] = ready.tokenize_pairs([("phone", "+8613800138000")])
    assert pair.borrower_next is not None
    with state.sessions() as session, transaction(session):
        tokens.retire_rotation(session, now, audit.CLI, force=True)
    # After the retire, the old pepper is refused and the new one works.
    stale = live_client(live_server, new_lender().api_key, tmp_path, "stale")
    with pytest.raises(ConfigurationError, match="not the consortium's current pepper"):
        stale.tokenize("phone", "+8613800138000")
    moved = live_client(live_server, new_lender().api_key, tmp_path, "moved", pepper=PEPPER_B)
    assert moved.tokenize("phone", "+8613800138000") == pair.borrower_next
