"""The HTTP client for the registry API.

>>> from lender_client import RegistryClient
>>> with RegistryClient() as client:            # REGISTRY_URL / REGISTRY_API_KEY  # doctest: +SKIP
...     summary = client.report_loans(reports)   # any iterable, sent in batches
...     report = client.inquire(token, consent_ref="APP-2026-0001")

Failed calls raise a subclass of :class:`~lender_client.errors.RegistryError`. Connection
failures, timeouts, 408, 429, 5xx and "idempotency key still in progress" conflicts are
retried with exponential backoff and full jitter (honouring ``Retry-After``); every POST
carries an ``Idempotency-Key`` that stays the same across its retries, so a retried upload or
inquiry is never applied or recorded twice.
"""

from __future__ import annotations

import email.utils
import itertools
import json
import logging
import math
import os
import platform
import random
import re
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sized
from datetime import UTC, date, datetime
from enum import Enum
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import requests

from lender_client._version import __version__
from lender_client.errors import (
    PROBLEM_IDEMPOTENCY_IN_PROGRESS,
    APIConnectionError,
    APITimeoutError,
    ConfigurationError,
    FieldError,
    RegistryError,
    UnexpectedResponseError,
    error_from_response,
)
from lender_client.models import (
    BatchResult,
    InquiryReport,
    Loan,
    LoanPage,
    LoanReport,
    LoanStatus,
    Purpose,
    Rejection,
    SubmissionResult,
    UploadSummary,
    format_timestamp,
)

__all__ = [
    "DEFAULT_BASE_URL",
    "MAX_BATCH_SIZE",
    "RegistryClient",
    "backoff_delay",
    "is_retryable",
    "new_idempotency_key",
    "parse_retry_after",
]

log = logging.getLogger("lender_client")

DEFAULT_BASE_URL = "http://127.0.0.1:5000"
MAX_BATCH_SIZE = 5000
MAX_PAGE_SIZE = 1000
_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e](?:[\x20-\x7e]{0,253}[\x21-\x7e])?")
_API_KEY = re.compile(r"[\x21-\x7e]+")
_ERRNO = re.compile(r"\[Errno -?\d+\] [^'\")\]]+")
# What requests leaves as it is in a URL (its ``requote_uri``): "%" keeps escapes intact.
_URL_SAFE = "!#$%&'()*+,/:;=?@[]~"


def backoff_delay(
    attempt: int,
    base: float = 0.5,
    cap: float = 8.0,
    rand: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before retry number ``attempt + 1`` (``attempt`` counts from 0).

    "Full jitter": a uniform draw from ``[0, min(cap, base * 2**attempt)]``, which spreads
    retrying clients out instead of having them come back in step.
    """
    ceiling = min(cap, base * math.pow(2, min(attempt, 62)))
    return rand() * ceiling


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """The wait a ``Retry-After`` header asks for, in seconds (``None`` if absent or unusable).

    Both forms of RFC 9110 are understood: a number of seconds and an HTTP date.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = now or datetime.now(UTC)
    return max(0.0, (when - current).total_seconds())


def is_retryable(status: int, problem_type: str | None = None) -> bool:
    """Whether a response with this status (and problem type) is worth retrying as it is."""
    if status in (408, 429) or 500 <= status <= 599:
        return True
    return status == 409 and problem_type == PROBLEM_IDEMPOTENCY_IN_PROGRESS


def new_idempotency_key() -> str:
    """A fresh random idempotency key."""
    return str(uuid.uuid4())


def _check_idempotency_key(key: str) -> str:
    if not isinstance(key, str) or not _IDEMPOTENCY_KEY.fullmatch(key):
        raise ValueError(
            "idempotency key must be 1-255 printable ASCII characters, "
            "not starting or ending with a space"
        )
    return key


def _key_or_new(key: str | None) -> str:
    """The caller's idempotency key (checked), or a new random one."""
    return new_idempotency_key() if key is None else _check_idempotency_key(key)


def _check_key_prefix(prefix: str, reports: object, batch_size: int) -> None:
    """Check, before anything is sent, that every key ``f"{prefix}-{n}"`` an upload of
    ``reports`` can use is valid. A stream of unknown length is taken to be as long as any
    sequence can be (``sys.maxsize`` records)."""
    _check_idempotency_key(f"{prefix}-0")
    records = len(reports) if isinstance(reports, Sized) else sys.maxsize
    longest = f"{prefix}-{max(records - 1, 0) // batch_size}"
    if len(longest) > 255:
        raise ValueError(
            f"idempotency_key_prefix is too long: with batch_size={batch_size} the key of the "
            f"last batch can be {len(longest)} characters, and a key holds at most 255"
        )


def _path_segment(value: str) -> str:
    """``value`` as one path segment: every reserved character escaped, and "." too, so that
    "." and ".." stay segments of their own instead of being resolved away."""
    return quote(value, safe="").replace(".", "%2E")


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


def _to_record(item: LoanReport | Mapping[str, Any]) -> Any:
    if isinstance(item, LoanReport):
        return item.to_json()
    if isinstance(item, Mapping):
        return dict(item)
    raise TypeError(f"a loan report must be a LoanReport or a mapping, not {type(item).__name__}")


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


class RegistryClient:
    """A connection to the registry on behalf of one lender.

    :param base_url: the registry's URL; defaults to ``$REGISTRY_URL``, else
        ``http://127.0.0.1:5000``. A path prefix is kept (``https://host/registry``).
    :param api_key: the lender's API key; defaults to ``$REGISTRY_API_KEY``. Required.
    :param timeout: seconds to wait for the connection and then for each read; a number, or a
        ``(connect, read)`` pair. Always applied.
    :param max_retries: how many times a retryable failure is retried (0 disables retries).
    :param backoff_base: the first retry waits up to this many seconds, doubling each time...
    :param backoff_cap: ...up to this many.
    :param max_retry_after: a ``Retry-After`` longer than this is not waited for: the error is
        raised at once.
    :param sleep: called with each wait, in seconds (for tests; default :func:`time.sleep`).
    :param rand: the jitter source, returning a float in ``[0, 1)``.
    :param session: a :class:`requests.Session` to use (it is not closed by :meth:`close`).

    A client keeps one HTTP session (connection pool); use it as a context manager or call
    :meth:`close`. It is not safe to share one client between threads: give each its own.
    """

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float | tuple[float, float] = 10.0,
        max_retries: int = 3,
        *,
        backoff_base: float = 0.5,
        backoff_cap: float = 8.0,
        max_retry_after: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        rand: Callable[[], float] = random.random,
        session: requests.Session | None = None,
        user_agent: str | None = None,
    ) -> None:
        url = (base_url or os.environ.get("REGISTRY_URL") or DEFAULT_BASE_URL).strip()
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigurationError(
                f"registry URL must look like http(s)://host[:port], got {url!r}"
            )
        if parts.query or parts.fragment:
            raise ConfigurationError("registry URL must not have a query or fragment")
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
        if max_retries < 0:
            raise ConfigurationError("max_retries must be 0 or more")
        self.max_retries = max_retries
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

    # -- plumbing -------------------------------------------------------------------------

    def __repr__(self) -> str:
        return f"RegistryClient(base_url={self.base_url!r})"

    def __enter__(self) -> RegistryClient:
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
    ) -> Any:
        """Send one API request (with retries) and return the decoded JSON answer.

        ``path`` is relative to the base URL, e.g. ``"/v1/loans"``, and is sent with its
        escapes as they are (``%2E`` stays ``%2E``). A POST always carries an
        ``Idempotency-Key``: ``idempotency_key`` if given, else a new random one, kept the same
        on every retry of this call.
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
        if method == "POST":
            headers["Idempotency-Key"] = _key_or_new(idempotency_key)
        retries = self.max_retries if max_retries is None else max_retries
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

        attempt = 0
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
                if attempt < retries:
                    self._pause(f"{method} {path} failed ({reason})", attempt, retries, None)
                    attempt += 1
                    continue
                cls = APITimeoutError if isinstance(exc, requests.Timeout) else APIConnectionError
                tries = f" after {attempt + 1} attempts" if attempt else ""
                raise cls(f"could not reach {self.base_url}{tries}: {reason}") from exc
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
                    raise UnexpectedResponseError(
                        f"the server's answer to {method} {path} is not JSON",
                        status,
                        None,
                        request_id,
                    ) from exc
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
            if attempt < retries and is_retryable(status, error.problem_type):
                if retry_after is not None and retry_after > self.max_retry_after:
                    raise error
                what = f"{method} {path} -> {status} (request id {request_id})"
                self._pause(what, attempt, retries, retry_after)
                attempt += 1
                continue
            raise error

    def _pause(self, what: str, attempt: int, retries: int, retry_after: float | None) -> None:
        """Wait before retry ``attempt + 1``: ``retry_after`` if the server gave one, else the
        jittered backoff."""
        if retry_after is not None:
            delay = retry_after
        else:
            delay = backoff_delay(attempt, self.backoff_base, self.backoff_cap, self._rand)
        log.info("%s; retry %d/%d in %.2fs", what, attempt + 1, retries, delay)
        self._sleep(delay)

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

    # -- loans ----------------------------------------------------------------------------

    def submit_batch(
        self,
        records: Iterable[LoanReport | Mapping[str, Any]],
        idempotency_key: str | None = None,
    ) -> SubmissionResult:
        """Send one ``POST /v1/loans`` of at most 5,000 records, as they are.

        ``rejected[i].index`` in the result is the position within ``records``. Most callers
        want :meth:`report_loans`, which batches any number of records.
        """
        loans = [_to_record(r) for r in records]
        if not 1 <= len(loans) <= MAX_BATCH_SIZE:
            raise ValueError(f"a batch must hold 1 to {MAX_BATCH_SIZE} records, not {len(loans)}")
        key = _key_or_new(idempotency_key)
        data = self.request("POST", "/v1/loans", json_body={"loans": loans}, idempotency_key=key)
        return SubmissionResult.from_json(self._json_object(data, "an upload"), key)

    def report_loans(
        self,
        reports: Iterable[LoanReport | Mapping[str, Any]],
        batch_size: int = 1000,
        on_batch: Callable[[BatchResult], None] | None = None,
        *,
        idempotency_key_prefix: str | None = None,
        keep_rejections: bool = True,
    ) -> UploadSummary:
        """Report any number of loans, streaming them to the registry in batches.

        ``reports`` is consumed lazily, one batch at a time, so it can be a generator over a
        file of any size. Each batch is one ``POST /v1/loans`` with its own idempotency key
        (random, or ``f"{idempotency_key_prefix}-{n}"`` for batch ``n`` if a prefix is given,
        which lets a re-run of the same stream replay instead of re-apply); retries of a batch
        reuse its key. Reporting is idempotent on the server anyway: a record already held
        as it is counts as ``unchanged``, one older than what is held as ``stale``.

        A prefix is checked before anything is sent (``ValueError``): every key the upload
        can use must be valid, 1-255 printable ASCII characters. For a stream of unknown
        length that means leaving room for the number of the last batch ``sys.maxsize``
        records would make (16 digits at ``batch_size=1000``).

        The summary's rejections carry the record's 0-based position in ``reports``.
        ``on_batch`` is called after each batch with its :class:`BatchResult` (for progress).
        With ``keep_rejections=False`` the summary only counts rejections (use ``on_batch`` to
        see them), so that memory stays flat however many are rejected.

        If a batch fails for good, its exception is raised with ``partial_summary`` set to
        what the batches before it achieved.
        """
        if not 1 <= batch_size <= MAX_BATCH_SIZE:
            raise ValueError(f"batch_size must be between 1 and {MAX_BATCH_SIZE}")
        if idempotency_key_prefix is not None:
            _check_key_prefix(idempotency_key_prefix, reports, batch_size)
        summary = UploadSummary()
        started = time.monotonic()
        iterator = iter(reports)
        for batch_no in itertools.count():
            chunk = [_to_record(r) for r in itertools.islice(iterator, batch_size)]
            if not chunk:
                break
            key = (
                f"{idempotency_key_prefix}-{batch_no}"
                if idempotency_key_prefix is not None
                else new_idempotency_key()
            )
            batch_started = time.monotonic()
            try:
                result = self.submit_batch(chunk, idempotency_key=key)
            except RegistryError as exc:
                summary.elapsed = time.monotonic() - started
                exc.partial_summary = summary
                raise
            offset = summary.records
            rejected = [
                Rejection(
                    index=offset + r.index,
                    loan_ref=r.loan_ref,
                    errors=[FieldError(e.record_field, e.message) for e in r.errors],
                    batch=batch_no,
                )
                for r in result.rejected
            ]
            batch = BatchResult(
                batch=batch_no,
                start_index=offset,
                size=len(chunk),
                submission_id=result.submission_id,
                idempotency_key=key,
                accepted=result.accepted,
                unchanged=result.unchanged,
                stale=result.stale,
                rejected=rejected,
                elapsed=time.monotonic() - batch_started,
            )
            summary.add(batch, keep_rejections)
            summary.elapsed = time.monotonic() - started
            log.debug(
                "batch %d: %d records, submission %s", batch_no, len(chunk), result.submission_id
            )
            if on_batch is not None:
                on_batch(batch)
        summary.elapsed = time.monotonic() - started
        return summary

    def get_loan(self, loan_ref: str) -> Loan:
        """One of the caller's loans by its reference (:class:`NotFoundError` if none).

        Any reference goes through intact, including "." and ".." and ones holding "/", "?",
        "#" or "%".
        """
        if not loan_ref:
            raise ValueError("loan_ref must not be empty")
        try:
            segment = _path_segment(loan_ref)
        except UnicodeEncodeError:
            raise ValueError("loan_ref is not valid Unicode (it holds a lone surrogate)") from None
        data = self.request("GET", "/v1/loans/" + segment)
        return Loan.from_json(self._json_object(data, "a loan"))

    def list_loans(
        self,
        status: LoanStatus | str | None = None,
        cursor: str | None = None,
        limit: int = 100,
    ) -> LoanPage:
        """One page of the caller's loans; pass ``next_cursor`` back for the next one."""
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise ValueError(f"limit must be between 1 and {MAX_PAGE_SIZE}")
        params: dict[str, str | int] = {"limit": limit}
        if status is not None:
            params["status"] = str(status)
        if cursor is not None:
            params["cursor"] = cursor
        data = self._json_object(self.request("GET", "/v1/loans", params=params), "a page")
        items = data.get("data")
        next_cursor = data.get("next_cursor")
        if not isinstance(items, list) or not (next_cursor is None or isinstance(next_cursor, str)):
            raise UnexpectedResponseError("a page of loans should have data and next_cursor")
        return LoanPage(
            data=[Loan.from_json(self._json_object(i, "a loan")) for i in items],
            next_cursor=next_cursor or None,
        )

    def iter_loans(
        self, status: LoanStatus | str | None = None, page_size: int = 100
    ) -> Iterator[Loan]:
        """Every one of the caller's loans (optionally only those with ``status``), fetching
        pages of ``page_size`` as the iteration goes."""
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be between 1 and {MAX_PAGE_SIZE}")
        return self._iter_loans(status, page_size)

    def _iter_loans(self, status: LoanStatus | str | None, page_size: int) -> Iterator[Loan]:
        cursor: str | None = None
        seen: set[str] = set()
        while True:
            page = self.list_loans(status=status, cursor=cursor, limit=page_size)
            yield from page.data
            if page.next_cursor is None:
                return
            if page.next_cursor in seen:
                raise UnexpectedResponseError("the server returned a cursor it had already given")
            seen.add(page.next_cursor)
            cursor = page.next_cursor

    # -- inquiries ------------------------------------------------------------------------

    def inquire(
        self,
        borrower: str,
        purpose: Purpose | str = Purpose.NEW_CREDIT,
        consent_ref: str | None = None,
        amount_requested: int | None = None,
        currency: str | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> InquiryReport:
        """Ask how indebted a borrower (token) is across all lenders.

        A ``new_credit`` inquiry needs ``consent_ref``, the reference of the applicant's
        consent; it is recorded and counted in other lenders' ``other_lenders_inquiring``.
        ``amount_requested`` is in minor units.

        The request carries an ``Idempotency-Key`` (``idempotency_key`` if given, else a random
        one) that stays the same on every retry of this call, so an inquiry whose answer was
        lost on the way (a dropped connection, a timeout) and is retried is recorded once: the
        registry answers the retry with the first report. Keys are scoped to the lender and
        the borrower. Passing the same ``idempotency_key`` with the same arguments again gets
        the same report back (same ``inquiry_id``); with different arguments it raises
        :class:`ConflictError` (``/problems/idempotency-conflict``).
        """
        body: dict[str, Any] = {"borrower": borrower, "purpose": str(purpose)}
        if consent_ref is not None:
            body["consent_ref"] = consent_ref
        if amount_requested is not None:
            body["amount_requested"] = amount_requested
        if currency is not None:
            body["currency"] = currency
        data = self.request(
            "POST", "/v1/inquiries", json_body=body, idempotency_key=idempotency_key
        )
        return InquiryReport.from_json(self._json_object(data, "an inquiry"))

    # -- service --------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """``GET /healthz``: the process is up."""
        return self._json_object(self.request("GET", "/healthz", max_retries=0), "health")

    def ready(self) -> bool:
        """``GET /readyz``: whether the registry can serve requests (database reachable)."""
        try:
            self.request("GET", "/readyz", max_retries=0)
        except RegistryError:
            return False
        return True
