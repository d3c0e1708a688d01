"""An in-process fake of the registry's token endpoints (and of ``POST /v1/loans`` and
``/v1/inquiries``), mounted on a requests session: the SDK's tokenisation tested without a
database, with full control over keys, rotations, tampering and quota answers."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

import rfc9497
from lender_client import RegistryClient

FAKE_URL = "https://fake-registry.test"
PEPPER_A = "a1" * 32
PEPPER_B = "b2" * 32


@dataclass
class FakeKey:
    key_id: str
    sk: bytes
    pk: bytes

    @classmethod
    def new(cls, key_id: str) -> FakeKey:
        sk, pk = rfc9497.generate_key_pair(rfc9497.Mode.VOPRF)
        return cls(key_id, sk, pk)


@dataclass
class FakeRegistry:
    """What the fake serves, and what it was sent."""

    current: FakeKey = field(default_factory=lambda: FakeKey.new("k1"))
    rotation: dict[str, Any] | None = None
    next_key: FakeKey | None = None
    # Hooks for misbehaviour.
    tamper: Callable[[dict[str, Any]], None] | None = None
    quota_answers: list[int] = field(default_factory=list)  # Retry-After values to answer 429
    advertise_public_key: bytes | None = None  # a public key other than the one used
    # What came in.
    requests: list[tuple[str, str, bytes]] = field(default_factory=list)
    evaluations: list[int] = field(default_factory=list)
    loans: list[dict[str, Any]] = field(default_factory=list)
    inquiries: list[dict[str, Any]] = field(default_factory=list)

    def open_key_rotation(self, key_id: str = "k2") -> FakeKey:
        self.next_key = FakeKey.new(key_id)
        self.rotation = {"kind": "key", "label": "2026 key", "opened_at": "2026-11-25T00:00:00Z"}
        return self.next_key

    def open_pepper_rotation(self) -> None:
        self.next_key = self.current
        self.rotation = {"kind": "pepper", "label": "2026 pepper", "opened_at": None}

    def key_json(self) -> dict[str, Any]:
        public = self.advertise_public_key or self.current.pk
        data: dict[str, Any] = {
            "suite": "ristretto255-SHA512",
            "mode": "voprf",
            "key_id": self.current.key_id,
            "public_key": public.hex(),
            "rotation": None,
        }
        if self.rotation is not None and self.next_key is not None:
            data["rotation"] = {
                **self.rotation,
                "next": {"key_id": self.next_key.key_id, "public_key": self.next_key.pk.hex()},
            }
        return data

    def key_by_id(self, key_id: str | None) -> FakeKey | None:
        if key_id in (None, self.current.key_id):
            return self.current
        if self.next_key is not None and key_id == self.next_key.key_id:
            return self.next_key
        return None

    @property
    def bodies(self) -> list[bytes]:
        return [body for _, _, body in self.requests]

    def count(self, path: str) -> int:
        return sum(1 for _, p, _ in self.requests if p == path)

    def handle(self, method: str, path: str, body: bytes) -> tuple[int, dict[str, str], Any]:
        self.requests.append((method, path, body))
        data: Any = json.loads(body) if body else None
        if method == "GET" and path == "/v1/tokens/key":
            return 200, {}, self.key_json()
        if method == "POST" and path == "/v1/tokens/evaluate":
            if self.quota_answers:
                wait = self.quota_answers.pop(0)
                return (
                    429,
                    {"Retry-After": str(wait)},
                    {
                        "type": "/problems/token-quota-exceeded",
                        "title": "Token quota exceeded",
                        "detail": "daily token quota of 10 elements reached",
                        "status": 429,
                    },
                )
            key = self.key_by_id(data.get("key_id"))
            if key is None:
                return 400, {}, {"type": "/problems/validation", "errors": [{"field": "key_id"}]}
            blinded = [bytes.fromhex(e) for e in data["blinded_elements"]]
            self.evaluations.append(len(blinded))
            evaluated, proof = rfc9497.blind_evaluate_batch(key.sk, key.pk, blinded)
            answer = {
                "key_id": key.key_id,
                "evaluated_elements": [e.hex() for e in evaluated],
                "proof": proof.hex(),
            }
            if self.tamper is not None:
                self.tamper(answer)
            return 200, {}, answer
        if method == "POST" and path == "/v1/loans":
            self.loans.extend(data["loans"])
            return (
                200,
                {},
                {
                    "submission_id": f"s{len(self.loans)}",
                    "accepted": len(data["loans"]),
                    "unchanged": 0,
                    "stale": 0,
                    "rejected": [],
                },
            )
        if method == "POST" and path == "/v1/inquiries":
            self.inquiries.append(data)
            return 200, {}, _inquiry_answer(data)
        return 404, {}, {"type": "/problems/not-found", "status": 404}


def _inquiry_answer(data: dict[str, Any]) -> dict[str, Any]:
    return {
        "inquiry_id": "i1",
        "borrower": data["borrower"],
        "generated_at": "2026-11-25T12:00:00Z",
        "purpose": data["purpose"],
        "summary": {
            "open_loans": 0,
            "lenders_with_open_loans": 0,
            "other_lenders_with_open_loans": 0,
            "outstanding": {},
            "max_days_past_due": 0,
            "past_due_loans": 0,
            "written_off_loans": 0,
            "loans_opened_last_30d": 0,
            "other_lenders_inquiring": {"1d": 0, "7d": 0, "30d": 0, "90d": 0},
        },
        "own": {"open_loans": 0, "outstanding": {}},
        "flags": [],
    }


class FakeAdapter(BaseAdapter):
    def __init__(self, registry: FakeRegistry) -> None:
        super().__init__()
        self.registry = registry

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, **kwargs: Any
    ) -> requests.Response:
        path = (request.path_url or "/").split("?")[0]
        body = request.body or b""
        if isinstance(body, str):
            body = body.encode()
        status, headers, payload = self.registry.handle(request.method or "GET", path, body)
        response = requests.Response()
        response.status_code = status
        content_type = "application/json" if status < 400 else "application/problem+json"
        response.headers = CaseInsensitiveDict({"Content-Type": content_type, **headers})
        response._content = json.dumps(payload).encode()
        response.url = request.url or ""
        response.request = request
        return response

    def close(self) -> None:
        pass


def fake_client(registry: FakeRegistry, **kwargs: Any) -> RegistryClient:
    """A client talking to ``registry``; ``kwargs`` go to RegistryClient (pepper, cache...)."""
    session = requests.Session()
    session.mount(FAKE_URL, FakeAdapter(registry))
    kwargs.setdefault("pepper", PEPPER_A)
    kwargs.setdefault("token_cache", "none")
    kwargs.setdefault("max_retries", 2)
    kwargs.setdefault("sleep", lambda seconds: None)
    return RegistryClient(FAKE_URL, "rk_test_key", session=session, **kwargs)


class RecordingSession(requests.Session):
    """A real session that keeps every request body it sends (for the live server)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, str, bytes]] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        body = request.body or b""
        self.sent.append(
            (
                request.method or "",
                request.url or "",
                body if isinstance(body, bytes) else body.encode(),
            )
        )
        return super().send(request, **kwargs)


def resident_id(serial: int, birth: str = "19900101", region: str = "110105") -> str:
    """A valid GB 11643 resident ID with this sequence number (0-999)."""
    first = f"{region}{birth}{serial:03d}"
    weights = [2 ** (17 - i) % 11 for i in range(17)]
    total = sum(int(d) * w for d, w in zip(first, weights, strict=True))
    return first + "10X98765432"[total % 11]


def phone(n: int) -> str:
    """A valid Chinese mobile number, in a form that needs normalising."""
    digits = f"1380{n:07d}"
    return f"{digits[:3]} {digits[3:7]} {digits[7:]}"
