"""The console's look-up by ID in a real browser (headless Chromium via Playwright): the
token is made in the page, so no request the browser sends carries the ID, its normal form,
the pepper or their HMAC, and a proof that does not verify stops the look-up.

The page must reach the token the lender SDK reaches for the same ID (lender_client, over
real HTTP against the same server). How it runs: see tests/console/browser.py.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus

import pytest
import requests
from sqlalchemy import select

from lender_client import RegistryClient
from registry import create_app
from registry.clock import SystemClock
from registry.db import transaction
from registry.models import AuditEvent
from registry.services import audit, lenders
from registry.services.tokens import init_key, set_pepper_fingerprint
from registry_protocol.ids import normalize_id, token_input
from registry_protocol.pepper import pepper_fingerprint
from tests.console.browser import (
    HTTP_TIMEOUT,
    console_database,
    new_operator,
    require_browser,
    serve,
    signed_in,
)
from tests.helpers import bearer, iso, loan

if TYPE_CHECKING:
    from playwright.sync_api import Page, Request, Route

pytestmark = [pytest.mark.live, pytest.mark.timeout(180)]

PEPPER = bytes.fromhex("3c" * 8 + "d7" * 8 + "91" * 16)
TYPED = " 11010519491231002x "  # as an operator might type it: spaces, a lower-case x
CANONICAL = normalize_id("cn_resident_id", TYPED)


@dataclass
class Sent:
    """What the browser sent: every request's method, URL, headers and body."""

    requests: list[tuple[str, str, dict[str, str], bytes]]

    def record(self, request: Request) -> None:
        body = request.post_data_buffer or b""
        self.requests.append((request.method, request.url, request.all_headers(), body))

    def posts_to(self, path: str) -> list[bytes]:
        return [
            body
            for method, url, _, body in self.requests
            if method == "POST" and url.endswith(path)
        ]


def _secrets() -> list[bytes]:
    """Every form of the ID and the pepper that must never reach the server, raw and as a
    form or URL would encode them."""
    inner = hmac.new(PEPPER, token_input("cn_resident_id", CANONICAL), hashlib.sha256).digest()
    texts = {
        TYPED.strip(),
        TYPED.strip().upper(),
        CANONICAL,
        CANONICAL[:17],
        PEPPER.hex(),
        PEPPER.hex().upper(),
        inner.hex(),
        inner.hex().upper(),
    }
    encoded = {quote(t) for t in texts} | {quote_plus(t) for t in texts}
    return [t.encode() for t in texts | encoded] + [PEPPER, inner]


def _carries_a_secret(sent: Sent) -> list[str]:
    found = []
    forbidden = _secrets()
    for method, url, headers, body in sent.requests:
        blob = b"\n".join([url.encode(), *(f"{k}: {v}".encode() for k, v in headers.items()), body])
        found += [f"{method} {url}: {secret!r}" for secret in forbidden if secret in blob]
    return found


def _registry(database_url: str, key_dir: Path) -> tuple[str, str]:
    """A token key with the pepper's fingerprint, and lender alpha: (the key id, alpha's API
    key)."""
    app = create_app(
        {
            "database_url": database_url,
            "clock": SystemClock(),
            "env": "development",
            "oprf_key_dir": str(key_dir),
        }
    )
    state = app.extensions["registry"]
    try:
        with state.sessions() as session, transaction(session):
            key = init_key(session, state.signer, state.clock.now(), audit.CLI)
            now = state.clock.now()
            _, api_key = lenders.create_lender(session, "alpha", "Alpha Credit", now)
            set_pepper_fingerprint(session, pepper_fingerprint(PEPPER), now, audit.CLI)
            return key.key_id, api_key.secret
    finally:
        state.engine.dispose()


def _audit(database_url: str, action: str) -> list[AuditEvent]:
    app = create_app({"database_url": database_url, "env": "development"})
    state = app.extensions["registry"]
    try:
        with state.sessions() as session:
            return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))
    finally:
        state.engine.dispose()


def _fill(page: Page, base: str, reason: str) -> None:
    page.goto(f"{base}/console/borrowers")
    page.locator("#id-kind").select_option("cn_resident_id")
    page.locator("#id-value").fill(TYPED)
    page.locator("#id-pepper").fill(PEPPER.hex())
    page.locator("#id-reason").fill(reason)
    page.locator('#lookup-id button[type="submit"]').click()


def _tampered(change: str) -> Any:
    """A route handler that passes the evaluation to the server and changes its answer."""

    def handle(route: Route) -> None:
        response = route.fetch()
        body = response.json()
        if change == "proof":
            proof = body["proof"]
            body["proof"] = proof[:10] + ("0" if proof[10] != "0" else "1") + proof[11:]
        else:  # another valid element: the generator's encoding
            body["evaluated_elements"] = [
                "e2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2d76"
            ]
        route.fulfill(response=response, json=body)

    return handle


def test_the_lookup_by_id_keeps_the_id_and_the_pepper_in_the_browser(tmp_path: Path) -> None:
    require_browser()
    from playwright.sync_api import expect

    database_url = console_database(tmp_path)
    key_dir = tmp_path / "keys"
    key_id, api_key = _registry(database_url, key_dir)
    password = new_operator(database_url, "ana", role="analyst")

    with serve(database_url, {"oprf_key_dir": str(key_dir)}) as base:
        # What a lender's SDK makes of the same ID, and a loan reported under it.
        sdk = RegistryClient(base, api_key, pepper=PEPPER, token_cache=False, trust_new_keys=True)
        expected = sdk.tokenize("cn_resident_id", TYPED)
        sdk.close()
        now = datetime.now(UTC)
        report = loan(
            "ALPHA-1",
            borrower=expected,
            opened_on=(now - timedelta(days=20)).date().isoformat(),
            due_on=(now + timedelta(days=160)).date().isoformat(),
            as_of=iso(now - timedelta(minutes=5)),
        )
        response = requests.post(
            f"{base}/v1/loans",
            json={"loans": [report]},
            headers=bearer(api_key),
            timeout=HTTP_TIMEOUT,
        )
        assert response.json()["accepted"] == 1, response.text

        with signed_in(base, "ana", password) as (page, _):
            sent = Sent([])
            page.on("request", sent.record)

            # The look-up: the page computes the token, then shows the borrower.
            _fill(page, base, "dispute 42")
            expect(page.locator("code.token-full")).to_have_text(expected)
            expect(page.locator("#lookup-reason")).to_have_text("dispute 42")
            assert "Alpha Credit" in page.content()
            [evaluation] = sent.posts_to("/console/borrowers/evaluate")
            assert b"blinded_element=" in evaluation and key_id.encode() in evaluation
            [lookup] = sent.posts_to("/console/borrowers")
            assert f"token={expected}".encode() in lookup
            assert len(sent.requests) >= 4  # the page, its scripts, the evaluation, the look-up
            assert _carries_a_secret(sent) == []

            # A tampered answer: an error, and nothing is looked up.
            for change in ("proof", "element"):
                sent.requests.clear()
                page.route("**/console/borrowers/evaluate", _tampered(change))
                _fill(page, base, f"tampered {change}")
                error = page.locator("#lookup-id-error")
                expect(error).to_be_visible()
                expect(error).to_contain_text("does not prove an evaluation")
                page.unroute("**/console/borrowers/evaluate")
                expect(page.locator("#lookup-id")).to_be_visible()
                assert page.url == f"{base}/console/borrowers"
                assert len(sent.posts_to("/console/borrowers/evaluate")) == 1
                assert sent.posts_to("/console/borrowers") == [], change
                assert _carries_a_secret(sent) == []

            # A pepper that is not the consortium's (its fingerprint differs from the one the
            # registry publishes) is refused in the page, before anything is sent.
            page.goto(f"{base}/console/borrowers")
            sent.requests.clear()
            page.locator("#id-value").fill(TYPED)
            page.locator("#id-pepper").fill("ab" * 32)
            page.locator("#id-reason").fill("wrong pepper")
            page.locator('#lookup-id button[type="submit"]').click()
            expect(page.locator("#lookup-id-error")).to_contain_text("fingerprint")
            expect(page.locator("#id-pepper")).to_have_attribute("aria-invalid", "true")
            assert [url for method, url, _, _ in sent.requests if method != "GET"] == []
            assert _carries_a_secret(sent) == []

    looked_up = _audit(database_url, "lookup")
    assert [(e.target, e.details["reason"]) for e in looked_up] == [(expected, "dispute 42")]
    evaluations = _audit(database_url, "token_evaluation")
    assert [e.details["reason"] for e in evaluations] == [
        "dispute 42",
        "tampered proof",
        "tampered element",
    ]
