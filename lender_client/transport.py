"""The HTTP transport: one session, the API key, JSON in and out, and retries.

:class:`Transport` sends a request and returns the decoded JSON answer, or raises a
:class:`~lender_client.errors.RegistryError`. Connection failures, timeouts, answers cut short
or unreadable, 408, 429, 502, 503 and 504 are retried for up to ``retry_for`` seconds (see
:mod:`lender_client.retries`); a POST's ``Idempotency-Key`` stays the same across its retries
(see :mod:`lender_client.idempotency`), so that a retry is never applied twice.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import platform
import random
import re
import time
from collections.abc import Callable, Mapping
from datetime import date, datetime
from enum import Enum
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote, urlencode, urlsplit

import requests

from lender_client._version import __version__
from lender_client.errors import (
    APIConnectionError,
    APITimeoutError,
    ConfigurationError,
    UnexpectedResponseError,
    error_from_response,
)
from lender_client.idempotency import key_or_new
from lender_client.models import LoanReport, format_timestamp
from lender_client.retries import (
    DEFAULT_RETRY_FOR,
    RetryBudget,
    RetryStats,
    is_idempotent,
    is_retryable,
    parse_retry_after,
)

__all__ = ["DEFAULT_BASE_URL", "Transport"]

log = logging.getLogger("lender_client")

DEFAULT_BASE_URL = "http://127.0.0.1:5000"
# Plain http:// is refused except to this machine, unless this variable says yes.
INSECURE_HTTP_ENV = "REGISTRY_ALLOW_INSECURE_HTTP"
_YES = frozenset({"1", "true", "yes"})


def _is_loopback(host: str | None) -> bool:
    """Whether `host` is this machine (localhost or a loopback address)."""
    if host is None:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_API_KEY = re.compile(r"[\x21-\x7e]+")
_ERRNO = re.compile(r"\[Errno -?\d+\] [^'\")\]]+")
# What requests leaves as it is in a URL (its ``requote_uri``): "%" keeps escapes intact.
_URL_SAFE = "!#$%&'()*+,/:;=?@[]~"


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, LoanReport):
        return value.to_json()
    raise TypeError(f"cannot send a {type(value).__name__} as JSON")


def _encode(payload: Any) -> bytes:
    try:
        text = json.dumps(
            payload,
            default=_json_default,
            separators=(",", ":"),
            ensure_ascii=False,
            allow_nan=False,
        )
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        bad = exc.object[exc.start : exc.end]
        raise ValueError(
            f"cannot send text holding the unpaired surrogate {bad!a}: it is not valid Unicode"
        ) from None
    except RecursionError:
        raise ValueError("cannot send a value nested this deeply") from None


def _describe(exc: BaseException) -> str:
    """A short reason for a transport failure (requests' own messages are very long)."""
    if isinstance(exc, requests.Timeout):
        return "timed out"
    text = str(exc)
    match = _ERRNO.search(text)
    if match:
        return match.group(0).strip()
    if "RemoteDisconnected" in text or "Connection aborted" in text:
        return "connection closed by the server"
    return type(exc).__name__


def _tries(budget: RetryBudget) -> str:
    """ " after 5 attempts in 61.3 s" for an error that ends a retried request, else ""."""
    if not budget.retries:
        return ""
    return f" after {budget.retries + 1} attempts in {budget.elapsed:.1f} s"


class Transport:
    """Sends API requests to the registry on behalf of one lender (the base of
    :class:`~lender_client.RegistryClient`, which documents the parameters)."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float | tuple[float, float] = 10.0,
        max_retries: int | None = None,
        *,
        retry_for: float = DEFAULT_RETRY_FOR,
        backoff_base: float = 0.5,
        backoff_cap: float = 8.0,
        max_retry_after: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
        session: requests.Session | None = None,
        user_agent: str | None = None,
        allow_insecure_http: bool | None = None,
    ) -> None:
        url = (base_url or os.environ.get("REGISTRY_URL") or DEFAULT_BASE_URL).strip()
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigurationError(
                f"registry URL must look like http(s)://host[:port], got {url!r}"
            )
        if parts.query or parts.fragment:
            raise ConfigurationError("registry URL must not have a query or fragment")
        if allow_insecure_http is None:
            allow_insecure_http = os.environ.get(INSECURE_HTTP_ENV, "").strip().lower() in _YES
        if parts.scheme == "http" and not allow_insecure_http and not _is_loopback(parts.hostname):
            # Every request carries the API key: over plain HTTP anyone on the path reads it.
            raise ConfigurationError(
                f"refusing plain http:// to {parts.hostname}: the API key would travel "
                "readable; use https://, or allow it for a trusted network "
                f"(allow_insecure_http=True, ${INSECURE_HTTP_ENV}=1)"
            )
        self.base_url = url.rstrip("/")
        canonical = requests.PreparedRequest()
        try:
            canonical.prepare_url(self.base_url, None)
        except requests.RequestException as exc:
            raise ConfigurationError(f"registry URL {url!r} is not usable: {exc}") from None
        # The base URL as it goes on the wire (host in IDNA, unsafe characters escaped).
        self._root = (canonical.url or self.base_url).rstrip("/")

        key = api_key if api_key is not None else os.environ.get("REGISTRY_API_KEY")
        key = (key or "").strip()
        if not key:
            raise ConfigurationError(
                "no API key: pass api_key=... or set the REGISTRY_API_KEY environment variable"
            )
        if not _API_KEY.fullmatch(key):
            # Not echoed back: the message must never contain (part of) the key.
            raise ConfigurationError("the API key contains spaces or non-ASCII characters")
        self._api_key = key

        if isinstance(timeout, tuple):
            connect_timeout, read_timeout = (float(t) for t in timeout)
        else:
            connect_timeout = read_timeout = float(timeout)
        if not (connect_timeout > 0 and read_timeout > 0):
            raise ConfigurationError("timeout must be positive")
        self.timeout: tuple[float, float] = (connect_timeout, read_timeout)
        if max_retries is not None and max_retries < 0:
            raise ConfigurationError("max_retries must be 0 or more")
        if not (retry_for >= 0 and retry_for != float("inf")):
            raise ConfigurationError("retry_for must be a number of seconds, 0 or more")
        self.max_retries = max_retries
        self.retry_for = float(retry_for)
        #: What retries have cost so far: requests retried, retries, seconds waited.
        self.retry_stats = RetryStats()
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.max_retry_after = max_retry_after
        self._sleep = sleep
        self._rand = rand
        self._owns_session = session is None
        self._session = session if session is not None else requests.Session()
        self.user_agent = user_agent or (
            f"lender-client/{__version__} python/{platform.python_version()}"
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release the connection pool (if the client created its session)."""
        if self._owns_session:
            self._session.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        params: Mapping[str, str | int] | None = None,
        idempotency_key: str | None = None,
        max_retries: int | None = None,
        retry_for: float | None = None,
    ) -> Any:
        """Send one API request (with retries) and return the decoded JSON answer.

        ``path`` is relative to the base URL, e.g. ``"/v1/loans"``, and is sent with its
        escapes as they are (``%2E`` stays ``%2E``). A POST always carries an
        ``Idempotency-Key``: ``idempotency_key`` if given, else a new random one, kept the same
        on every retry of this call. ``max_retries`` and ``retry_for`` override the client's
        for this call.
        """
        method = method.upper()
        headers = {
            "Authorization": f"Bearer {self._api_key}",
            "Accept": "application/json, application/problem+json",
            "User-Agent": self.user_agent,
        }
        body: bytes | None = None
        if json_body is not None:
            body = _encode(json_body)
            headers["Content-Type"] = "application/json"
        key = key_or_new(idempotency_key) if method == "POST" else None
        if key is not None:
            headers["Idempotency-Key"] = key
        budget = RetryBudget(
            self.retry_for if retry_for is None else retry_for,
            self.max_retries if max_retries is None else max_retries,
        )
        try:
            return self._send(method, path, body, headers, params, budget, key)
        finally:
            self.retry_stats.record(budget)

    def _send(
        self,
        method: str,
        path: str,
        body: bytes | None,
        headers: dict[str, str],
        params: Mapping[str, str | int] | None,
        budget: RetryBudget,
        key: str | None,
    ) -> Any:
        """Send the prepared request until it gets an answer, or its retries run out."""
        # A repeat of this request is safe when its answer is lost or damaged (see retries).
        repeatable = is_idempotent(method, key)
        url = self._root + quote(path, safe=_URL_SAFE)
        if params:
            url += "?" + urlencode(list(params.items()))
        prepared = self._session.prepare_request(
            requests.Request(method, url, data=body, headers=headers)
        )
        # requests turns "%2E" back into "." (it unescapes unreserved characters), after which
        # urllib3, or any proxy on the way, drops a "." or ".." segment: send the URL as built.
        prepared.url = url
        settings = self._session.merge_environment_settings(url, {}, None, None, None)

        while True:
            try:
                response = self._session.send(
                    prepared, timeout=self.timeout, allow_redirects=False, **settings
                )
            except requests.exceptions.SSLError as exc:
                raise APIConnectionError(f"TLS error talking to {self.base_url}") from exc
            except (
                requests.ConnectionError,
                requests.Timeout,
                requests.exceptions.ChunkedEncodingError,
            ) as exc:
                reason = _describe(exc)
                if repeatable and self._pause(f"{method} {path} failed ({reason})", budget, None):
                    continue
                cls = APITimeoutError if isinstance(exc, requests.Timeout) else APIConnectionError
                unreachable = cls(f"could not reach {self.base_url}{_tries(budget)}: {reason}")
                unreachable.attempts = budget.retries + 1
                raise unreachable from exc
            except requests.RequestException as exc:
                raise APIConnectionError(
                    f"request to {self.base_url} failed: {type(exc).__name__}"
                ) from exc

            status = response.status_code
            request_id = response.headers.get("X-Request-ID")
            log.debug("%s %s -> %d (request id %s)", method, path, status, request_id)
            if 200 <= status < 300:
                try:
                    return response.json()
                except ValueError as exc:
                    # Cut short or damaged on the way (a proxy, a connection closed early):
                    # the key makes asking again safe.
                    what = f"{method} {path} -> {status} with a body that is not JSON"
                    if repeatable and self._pause(what, budget, None):
                        continue
                    unreadable = UnexpectedResponseError(
                        f"the server's answer to {method} {path} is not JSON{_tries(budget)}",
                        status,
                        None,
                        request_id,
                    )
                    unreadable.attempts = budget.retries + 1
                    raise unreadable from exc
            if 300 <= status < 400:
                location = response.headers.get("Location", "?")
                raise UnexpectedResponseError(
                    f"the server redirected {method} {path} to {location}; "
                    "set the registry URL to the final address",
                    status,
                    None,
                    request_id,
                )

            problem = self._problem(response)
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            error = error_from_response(
                status,
                problem,
                request_id=request_id,
                retry_after=retry_after,
                body_text=None if problem is not None else response.text,
            )
            if is_retryable(status, error.problem_type):
                what = f"{method} {path} -> {status} (request id {request_id})"
                if self._pause(what, budget, retry_after):
                    continue
            error.attempts = budget.retries + 1
            raise error

    def _pause(self, what: str, budget: RetryBudget, retry_after: float | None) -> bool:
        """Wait before the next attempt and say yes, or say no when the budget is spent (or
        the server asks for a longer wait than is left)."""
        wait = budget.next_wait(
            retry_after,
            base=self.backoff_base,
            cap=self.backoff_cap,
            rand=self._rand,
            max_retry_after=self.max_retry_after,
        )
        if wait is None:
            return False
        spent = budget.elapsed
        budget.spend(wait)
        log.info(
            "%s; retry %d in %.2fs (%.1fs of the %.0fs retry budget spent)",
            what,
            budget.retries,
            wait,
            spent,
            budget.seconds,
        )
        self._sleep(wait)
        return True

    @staticmethod
    def _problem(response: requests.Response) -> dict[str, Any] | None:
        content_type = response.headers.get("Content-Type", "")
        if "json" not in content_type:
            return None
        try:
            data = response.json()
        except ValueError:
            return None
        return data if isinstance(data, dict) else None

    def _json_object(self, data: Any, what: str) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise UnexpectedResponseError(f"expected a JSON object for {what}")
        return data
