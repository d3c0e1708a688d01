"""What the SDK tests share: a scripted HTTP server on a loopback port that answers with the
replies it is given, a recorder of sleeps, sample records, problem documents and reports."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

from lender_client import (
    LoanReport,
    LoanStatus,
    Product,
    RegistryClient,
)

API_KEY = "rk_test_SECRET_0123456789abcdef"
TOKEN = "ab" * 32
AS_OF = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def report(n: int = 1, **overrides: Any) -> LoanReport:
    values: dict[str, Any] = {
        "loan_ref": f"L-{n}",
        "borrower": TOKEN,
        "product": Product.CASH_LOAN,
        "currency": "CNY",
        "principal": 500_000,
        "outstanding": 320_000,
        "opened_on": date(2026, 3, 1),
        "due_on": date(2027, 3, 1),
        "status": LoanStatus.OPEN,
        "days_past_due": 0,
        "as_of": AS_OF,
    }
    values.update(overrides)
    return LoanReport(**values)


def problem(status: int, slug: str, title: str, detail: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": f"/problems/{slug}",
        "title": title,
        "status": status,
        "detail": detail,
        "request_id": "req-body",
        **extra,
    }


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class ScriptedServer:
    """A real HTTP server on 127.0.0.1 that answers with the replies it is given, in order."""

    def __init__(self) -> None:
        self.replies: list[Reply] = []
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with outer._lock:
                    outer.seen.append(
                        Seen(self.command, self.path, dict(self.headers.items()), body)
                    )
                    reply = outer.replies.pop(0) if outer.replies else Reply(599, {"x": 1})
                if reply.delay:
                    time.sleep(reply.delay)
                if isinstance(reply.body, bytes | str):
                    payload = reply.body.encode() if isinstance(reply.body, str) else reply.body
                    content_type = "text/html"
                else:
                    payload = json.dumps(reply.body).encode()
                    content_type = (
                        "application/problem+json" if reply.status >= 400 else "application/json"
                    )
                self.send_response(reply.status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("X-Request-ID", f"req-{len(outer.seen)}")
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def script(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(5)


@dataclass
class Sleeps:
    calls: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def make_client(url: str, sleeps: Sleeps | None = None, **kwargs: Any) -> RegistryClient:
    return RegistryClient(url, API_KEY, sleep=sleeps or Sleeps(), **kwargs)


def submission(accepted: int = 1, rejected: list[Any] | None = None) -> dict[str, Any]:
    return {
        "submission_id": "sub-1",
        "accepted": accepted,
        "unchanged": 0,
        "stale": 0,
        "rejected": rejected or [],
    }


def inquiry_body() -> dict[str, Any]:
    return {
        "inquiry_id": "inq-1",
        "borrower": TOKEN,
        "generated_at": "2026-11-20T10:00:00Z",
        "purpose": "new_credit",
        "summary": {
            "open_loans": 3,
            "lenders_with_open_loans": 3,
            "other_lenders_with_open_loans": 2,
            "outstanding": {"CNY": 1_234_567},
            "max_days_past_due": 12,
            "past_due_loans": 1,
            "written_off_loans": 0,
            "loans_opened_last_30d": 2,
            "other_lenders_inquiring": {"1d": 1, "7d": 2, "30d": 3, "90d": 4},
        },
        "own": {"open_loans": 1, "outstanding": {"CNY": 100}},
        "flags": [
            {"code": "MULTI_LENDER", "detail": "open loans with 3 lenders"},
            {"code": "SOMETHING_NEW", "detail": "a flag this client does not know"},
        ],
    }


class CountingSession(requests.Session):
    def __init__(self) -> None:
        super().__init__()
        self.attempts = 0

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        self.attempts += 1
        return super().send(request, **kwargs)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


HEADER = (
    "loan_ref,borrower,product,currency,principal,outstanding,opened_on,due_on,status,"
    "days_past_due,as_of"
)


def csv_row(ref: str, **overrides: str) -> str:
    values = {
        "loan_ref": ref,
        "borrower": TOKEN,
        "product": "cash_loan",
        "currency": "CNY",
        "principal": "500000",
        "outstanding": "320000",
        "opened_on": "2026-03-01",
        "due_on": "2027-03-01",
        "status": "open",
        "days_past_due": "0",
        "as_of": "2026-11-20T10:00:00Z",
    }
    values.update(overrides)
    return ",".join(values[name] for name in HEADER.split(","))
