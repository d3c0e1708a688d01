"""A real browser against a real server: Debian's Chromium, driven by Playwright.

Used by tests/console/test_*browser.py and by `python -m tests.bench.screenshots`. Each browser
test runs once, on its own SQLite database (`console_database`: the browser adds nothing per
backend). Nothing here downloads a browser: Playwright launches /usr/bin/chromium
(`apt-get install -y chromium`). When it (or the playwright package) is missing,
`require_browser()` skips the calling test, or fails it when REGISTRY_REQUIRE_BROWSER=1 (as in
CI).
"""

from __future__ import annotations

import importlib.util
import os
import secrets
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from click.testing import CliRunner
from werkzeug.serving import make_server

from registry import create_app
from registry.clock import SystemClock
from registry.migrations import upgrade

if TYPE_CHECKING:
    from playwright.sync_api import ConsoleMessage, Page, Response

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
)
STEP_TIMEOUT_MS = 15_000  # every wait of a step: navigation, selector, expectation
HTTP_TIMEOUT = 10  # seconds, for the tests' own API calls beside the browser
SHOTS = ROOT / "test-output" / "browser"
ENABLE_HINT = "install it with 'apt-get install -y chromium', then run 'make test'"


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    if not (CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)):
        return f"{CHROMIUM} is missing: {ENABLE_HINT}"
    return None


def require_browser() -> None:
    reason = browser_missing()
    if reason is None:
        return
    if os.environ.get("REGISTRY_REQUIRE_BROWSER") == "1":
        pytest.fail(f"REGISTRY_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    pytest.skip(f"real-browser test: {reason}")


@contextmanager
def serve(database_url: str, config: dict[str, Any] | None = None) -> Iterator[str]:
    """The app over real HTTP on a free loopback port, in a thread; yields its base URL."""
    app = create_app(
        {"database_url": database_url, "clock": SystemClock(), "env": "development"}
        | (config or {})
    )
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()
        app.extensions["registry"].engine.dispose()


def new_password() -> str:
    return f"Browser-test-{secrets.token_urlsafe(12)}"


def create_operator(database_url: str, username: str, password: str, role: str = "admin") -> None:
    """`registry operators add USERNAME --role ROLE --password-file PATH`, in process."""
    from registry.cli import main

    with tempfile.TemporaryDirectory(prefix="registry-operator-") as tmp:
        password_file = Path(tmp) / "password"
        password_file.write_text(password + "\n", encoding="utf-8")
        password_file.chmod(0o600)
        result = CliRunner().invoke(
            main,
            ["operators", "add", username, "--role", role, "--password-file", str(password_file)],
            env={"REGISTRY_DATABASE_URL": database_url, "REGISTRY_ENV": "development"},
        )
    if result.exit_code != 0:
        raise RuntimeError(
            f"'registry operators add {username}' exited {result.exit_code}: "
            f"{result.output.strip()} {result.exception!r}"
        )


def console_database(tmp_path: Path) -> str:
    """A fresh SQLite database at the newest migration, for one browser test; also makes the
    screenshot folder."""
    database_url = f"sqlite:///{tmp_path / 'registry.db'}"
    upgrade(database_url)
    SHOTS.mkdir(parents=True, exist_ok=True)
    return database_url


def new_operator(database_url: str, username: str, role: str = "admin") -> str:
    """An operator with a fresh password; returns the password."""
    password = new_password()
    create_operator(database_url, username, password, role=role)
    return password


@dataclass
class BrowserProblems:
    """What went wrong in the browser: console errors (CSP violations among them), uncaught
    page errors, failed requests and server errors, in the order they happened."""

    entries: list[str] = field(default_factory=list)

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        where = message.location.get("url", "") if message.location else ""
        self.entries.append(f"console error: {message.text} ({where})")

    def on_page_error(self, error: Exception) -> None:
        self.entries.append(f"page error: {error}")

    def on_response(self, response: Response) -> None:
        if response.status >= 500:
            self.entries.append(f"HTTP {response.status}: {response.request.method} {response.url}")

    def on_request_failed(self, request: Any) -> None:
        # ERR_ABORTED: the browser dropped a load because the page navigated on (a click
        # leaves before the icon arrives), not a failure of the site.
        if request.failure == "net::ERR_ABORTED":
            return
        self.entries.append(f"request failed: {request.method} {request.url} {request.failure}")

    def report(self) -> str:
        return "\n".join(self.entries)

    def assert_none(self) -> None:
        assert not self.entries, "the browser reported problems:\n" + self.report()


@contextmanager
def chromium_page(width: int = 1280, height: int = 800) -> Iterator[tuple[Page, BrowserProblems]]:
    """A fresh headless Chromium page (its own profile), watched for errors from the start."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=STEP_TIMEOUT_MS)
    problems = BrowserProblems()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=list(CHROMIUM_ARGS), timeout=30_000
        )
        try:
            context = browser.new_context(viewport={"width": width, "height": height})
            context.set_default_timeout(STEP_TIMEOUT_MS)
            context.set_default_navigation_timeout(STEP_TIMEOUT_MS)
            page = context.new_page()
            page.on("console", problems.on_console)
            page.on("pageerror", problems.on_page_error)
            page.on("response", problems.on_response)
            page.on("requestfailed", problems.on_request_failed)
            page.on("dialog", lambda dialog: dialog.accept())  # "Suspend acme?" and the like
            yield page, problems
            context.close()
        finally:
            browser.close()


def login(page: Page, base_url: str, username: str, password: str) -> None:
    page.goto(f"{base_url}/console/login")
    page.locator('input[name="username"]').fill(username)
    page.locator('input[name="password"]').fill(password)
    page.locator('form [type="submit"]').first.click()
    try:
        page.wait_for_url(f"{base_url}/console/")
    except Exception as exc:
        flashes = page.locator(".flash").all_inner_texts()
        raise AssertionError(f"login as {username!r} failed: {flashes or page.url}") from exc


@contextmanager
def signed_in(
    base_url: str, username: str, password: str
) -> Iterator[tuple[Page, BrowserProblems]]:
    """A fresh page logged in to the console; when the block ends without an error, the test
    fails if the browser reported any problem on the way."""
    with chromium_page() as (page, problems):
        login(page, base_url, username, password)
        yield page, problems
    problems.assert_none()
