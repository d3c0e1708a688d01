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

Borrowers can be named by ID instead of by token: ``client.tokenize("cn_resident_id", id)``,
``client.inquire(id_kind=..., id_value=..., ...)``, or loan reports with ``id_kind`` and
``id_value`` in place of ``borrower``. The client then derives the tokens with the registry's
help (see :mod:`lender_client.tokens`): it needs the consortium pepper (``$REGISTRY_PEPPER``
or ``$REGISTRY_PEPPER_FILE``), never sends the ID, and caches the tokens locally
(:mod:`lender_client.cache`). During a rotation window it sends ``borrower_next`` as well.
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
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sized
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from enum import Enum
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import requests

from lender_client._version import __version__
from lender_client.cache import MemoryPinStore, PinStore, TokenCache, resolve_cache_path
from lender_client.errors import (
    PROBLEM_IDEMPOTENCY_IN_PROGRESS,
    APIConnectionError,
    APITimeoutError,
    ConfigurationError,
    FieldError,
    RegistryError,
    UnexpectedResponseError,
    ValidationError,
    error_from_response,
)
from registry_protocol.ids import ID_KINDS, InvalidIdError, normalize_id
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
from lender_client.tokens import Pepper, Tokenizer, TokenKey, TokenPair, load_pepper

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


@dataclass
class _PreparedBatch:
    """A batch ready to send: its records (tokenised), each one's position in the batch, and
    the records refused before sending."""

    records: list[dict[str, Any]] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)
    tokenized: int = 0
    with_next: int = 0


def _id_problem(item: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(field, message)`` if a record's ID fields cannot even be normalised: missing, not
    text, an unknown kind, or a borrower given as well. Never quotes a value: a value in
    the wrong column may be an ID."""
    if "borrower" in item or "borrower_next" in item:
        return "borrower", "give either borrower (a token) or id_kind and id_value, not both"
    kind, value = item.get("id_kind"), item.get("id_value")
    if not isinstance(kind, str) or not kind:
        return "id_kind", "required: the kind of ID, one of " + ", ".join(ID_KINDS)
    if kind not in ID_KINDS:
        return "id_kind", "unknown kind of ID; the kinds are " + ", ".join(ID_KINDS)
    if not isinstance(value, str) or not value.strip():
        return "id_value", f"required: the borrower's {kind} as text"
    return None


def _invalid_id(exc: InvalidIdError) -> tuple[str, str]:
    kind = exc.kind if exc.kind in ID_KINDS else None
    if kind is None:
        return "id_kind", "unknown kind of ID; the kinds are " + ", ".join(ID_KINDS)
    return "id_value", f"not a valid {kind}: {exc.reason}"


def _about_borrower_next(exc: RegistryError) -> bool:
    return any(e.record_field == "borrower_next" for e in exc.field_errors)


def _retry_key(key: str) -> str:
    suffix = "-next-refreshed"
    return key[: 255 - len(suffix)] + suffix


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
    :param pepper: the consortium pepper, needed to name borrowers by ID: a :class:`Pepper`,
        32 bytes, 64 hex characters, or a :class:`~pathlib.Path` to a file holding them.
        Defaults to ``$REGISTRY_PEPPER`` (hex) or ``$REGISTRY_PEPPER_FILE`` (a path).
    :param next_pepper: the next pepper, needed only while the registry has a pepper
        rotation window open; defaults to ``$REGISTRY_PEPPER_NEXT`` /
        ``$REGISTRY_PEPPER_NEXT_FILE``.
    :param token_cache: where tokens and trusted registry keys are kept: a path, a
        :class:`~lender_client.cache.TokenCache`, or ``"none"`` (or ``False``) for no cache.
        Defaults to ``$REGISTRY_TOKEN_CACHE``, else
        ``$XDG_DATA_HOME/lender-client/tokens.sqlite3`` (``~/.local/share/...``). Opened on
        first use only.
    :param trust_new_keys: accept (and pin) a registry token key with a key id not seen
        before without being told with :meth:`trust_key`. A different public key for a key
        id already pinned is never accepted this way.
    :param key_ttl: seconds the registry's token key information is reused.

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
        pepper: Pepper | str | bytes | os.PathLike[str] | None = None,
        next_pepper: Pepper | str | bytes | os.PathLike[str] | None = None,
        token_cache: TokenCache | str | os.PathLike[str] | bool | None = None,
        trust_new_keys: bool = False,
        key_ttl: float = 60.0,
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

        self._pepper = load_pepper(pepper)
        self._next_pepper = load_pepper(next_pepper, next_pepper=True)
        self._cache_setting = token_cache
        self._cache: TokenCache | None = None
        self._owns_cache = False
        self._pins: PinStore | None = None
        self.trust_new_keys = trust_new_keys
        self.key_ttl = key_ttl
        self._tokenizer: Tokenizer | None = None
        self._token_lock = threading.Lock()

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
        """Release the connection pool (if the client created its session) and the token
        cache (if the client opened it)."""
        if self._owns_session:
            self._session.close()
        if self._owns_cache and self._cache is not None:
            self._cache.close()
            self._cache = None
            self._tokenizer = None

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

    # -- tokens ---------------------------------------------------------------------------

    def _open_cache(self) -> TokenCache | None:
        setting = self._cache_setting
        if isinstance(setting, TokenCache):
            return setting
        if setting is False:
            return None
        path = resolve_cache_path(None if setting is None or setting is True else setting)
        if path is None:
            return None
        try:
            cache = TokenCache(path)
        except OSError as exc:
            raise ConfigurationError(
                f"cannot open the token cache {str(path)!r}: {exc.strerror or exc}; "
                "set --token-cache / REGISTRY_TOKEN_CACHE to another path, or to none"
            ) from None
        self._owns_cache = True
        return cache

    @property
    def tokenizer(self) -> Tokenizer:
        """The :class:`~lender_client.tokens.Tokenizer` behind :meth:`tokenize` (created, and
        the token cache opened, on first use)."""
        with self._token_lock:
            if self._tokenizer is None:
                self._cache = self._open_cache()
                self._pins = self._cache if self._cache is not None else MemoryPinStore()
                self._tokenizer = Tokenizer(
                    self._fetch_token_key,
                    self._evaluate_tokens,
                    self._pepper,
                    self._next_pepper,
                    self._cache,
                    pins=self._pins,
                    trust_new_keys=self.trust_new_keys,
                    key_ttl=self.key_ttl,
                )
            return self._tokenizer

    @property
    def token_cache(self) -> TokenCache | None:
        """The token cache in use (``None`` when disabled)."""
        self.tokenizer  # noqa: B018 - opens the cache
        return self._cache

    def _fetch_token_key(self) -> Any:
        return self.request("GET", "/v1/tokens/key")

    def _evaluate_tokens(self, blinded_elements: list[str], key_id: str) -> Any:
        body = {"blinded_elements": blinded_elements, "key_id": key_id}
        return self.request("POST", "/v1/tokens/evaluate", json_body=body)

    def token_key(self, refresh: bool = False) -> TokenKey:
        """``GET /v1/tokens/key``: the registry's current token key and any open rotation
        window, checked against the pinned keys (:class:`UntrustedKeyError` otherwise; on
        first use with no pins, the current key is pinned)."""
        return self.tokenizer.key(refresh=refresh)

    def trust_key(self, key_id: str, public_key_hex: str) -> None:
        """Pin a registry token key: ``public_key_hex`` (64 hex) is trusted for ``key_id``
        from now on, replacing any earlier pin. Check the key with the consortium first."""
        self.tokenizer.trust_key(key_id, public_key_hex)

    def tokenize(self, kind: str, value: str) -> str:
        """The current token (64 hex) of the borrower with this ID.

        ``kind`` is one of ``cn_resident_id``, ``phone``, ``passport``, ``cn_uscc``; the value
        is normalised first (:class:`InvalidIdError` if it is not valid, without the value in
        the message). The ID is blinded before anything is sent.
        """
        return self.tokenizer.tokenize([(kind, value)])[0].borrower

    def tokenize_many(
        self,
        ids: Iterable[tuple[str, str]],
        *,
        on_progress: Callable[[int], None] | None = None,
    ) -> list[str]:
        """The current tokens of ``(kind, value)`` IDs, in input order: one evaluation
        request per 1,000 IDs not already in the cache. ``on_progress`` is called with the
        number of IDs done after each step."""
        pairs = self.tokenizer.tokenize(list(ids), on_progress=on_progress)
        return [pair.borrower for pair in pairs]

    def tokenize_pairs(
        self,
        ids: Iterable[tuple[str, str]],
        *,
        on_progress: Callable[[int], None] | None = None,
    ) -> list[TokenPair]:
        """As :meth:`tokenize_many`, with both tokens: each :class:`TokenPair` has
        ``borrower`` and, while a rotation window is open, ``borrower_next`` (else ``None``).
        A pepper rotation needs ``next_pepper`` (:class:`ConfigurationError` otherwise)."""
        return self.tokenizer.tokenize(list(ids), both=True, on_progress=on_progress)

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
        on_tokens: Callable[[int], None] | None = None,
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

        A record may name its borrower by ID instead of by token: a :class:`LoanReport` with
        ``id_kind`` and ``id_value``, or a mapping with those keys in place of ``borrower``.
        Those are tokenised a batch at a time (see :meth:`tokenize_pairs`; ``on_tokens`` is
        called with the number of IDs done, for progress) and sent with ``borrower`` and,
        during a rotation window, ``borrower_next``. A record whose ID is not valid is not
        sent: it is a rejection (field ``id_value``, or ``id_kind`` for an unknown kind)
        whose message gives the kind and the reason, never the value.

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
            items = [_to_record(r) for r in itertools.islice(iterator, batch_size)]
            if not items:
                break
            key = (
                f"{idempotency_key_prefix}-{batch_no}"
                if idempotency_key_prefix is not None
                else new_idempotency_key()
            )
            offset = summary.records
            batch_started = time.monotonic()
            try:
                prepared = self._prepare_batch(items, offset, batch_no, on_tokens)
                rejected = list(prepared.rejected)
                submission_id = ""
                accepted = unchanged = stale = 0
                if prepared.records:
                    result = self._submit_prepared(
                        prepared, items, offset, batch_no, key, on_tokens
                    )
                    submission_id = result.submission_id
                    accepted, unchanged, stale = result.accepted, result.unchanged, result.stale
                    rejected.extend(
                        Rejection(
                            index=offset + prepared.positions[r.index]
                            if 0 <= r.index < len(prepared.positions)
                            else offset + r.index,
                            loan_ref=r.loan_ref,
                            errors=[FieldError(e.record_field, e.message) for e in r.errors],
                            batch=batch_no,
                        )
                        for r in result.rejected
                    )
            except RegistryError as exc:
                summary.elapsed = time.monotonic() - started
                exc.partial_summary = summary
                raise
            rejected.sort(key=lambda r: r.index)
            batch = BatchResult(
                batch=batch_no,
                start_index=offset,
                size=len(items),
                submission_id=submission_id,
                idempotency_key=key if prepared.records else "",
                accepted=accepted,
                unchanged=unchanged,
                stale=stale,
                rejected=rejected,
                elapsed=time.monotonic() - batch_started,
                tokenized=prepared.tokenized,
            )
            summary.add(batch, keep_rejections)
            summary.elapsed = time.monotonic() - started
            log.debug(
                "batch %d: %d records, %d tokenised, submission %s",
                batch_no,
                len(items),
                prepared.tokenized,
                submission_id or "(none sent)",
            )
            if on_batch is not None:
                on_batch(batch)
        summary.elapsed = time.monotonic() - started
        return summary

    def _prepare_batch(
        self,
        items: list[dict[str, Any]],
        offset: int,
        batch_no: int,
        on_tokens: Callable[[int], None] | None,
        refresh_key: bool = False,
    ) -> _PreparedBatch:
        """Tokenise the records of a batch that name their borrower by ID; records with a bad
        ID become local rejections (never sent). The records are copied, not changed."""
        out = _PreparedBatch()
        pending: list[tuple[int, dict[str, Any], str, str]] = []
        for position, item in enumerate(items):
            if "id_kind" not in item and "id_value" not in item:
                out.positions.append(position)
                out.records.append(item)
                continue
            record = {k: v for k, v in item.items() if k not in ("id_kind", "id_value")}
            problem = _id_problem(item)
            if problem is None:
                kind, value = item["id_kind"], item["id_value"]
                try:
                    pending.append((position, record, kind, normalize_id(kind, value)))
                    continue
                except InvalidIdError as exc:
                    problem = _invalid_id(exc)
            ref = item.get("loan_ref")
            out.rejected.append(
                Rejection(
                    index=offset + position,
                    loan_ref=ref if isinstance(ref, str) else None,
                    errors=[FieldError(*problem)],
                    batch=batch_no,
                )
            )
        if pending:
            tokenizer = self.tokenizer
            if refresh_key:
                tokenizer.key(refresh=True)
            pairs = tokenizer.tokenize_canonical(
                [(kind, canonical) for _, _, kind, canonical in pending],
                both=True,
                on_progress=on_tokens,
            )
            for (position, record, _, _), pair in zip(pending, pairs, strict=True):
                record["borrower"] = pair.borrower
                if pair.borrower_next is not None:
                    record["borrower_next"] = pair.borrower_next
                    out.with_next += 1
                out.positions.append(position)
                out.records.append(record)
            out.tokenized = len(pending)
            order = sorted(range(len(out.positions)), key=out.positions.__getitem__)
            out.positions = [out.positions[i] for i in order]
            out.records = [out.records[i] for i in order]
        return out

    def _submit_prepared(
        self,
        prepared: _PreparedBatch,
        items: list[dict[str, Any]],
        offset: int,
        batch_no: int,
        key: str,
        on_tokens: Callable[[int], None] | None,
    ) -> SubmissionResult:
        try:
            return self.submit_batch(prepared.records, idempotency_key=key)
        except ValidationError as exc:
            if not prepared.with_next or not _about_borrower_next(exc):
                raise
        # The rotation window closed (or changed) since the key was read: read it again,
        # tokenise again and send once more (another body, so another idempotency key).
        log.info("the registry refused borrower_next: refreshing the token key")
        again = self._prepare_batch(items, offset, batch_no, on_tokens, refresh_key=True)
        prepared.records, prepared.positions = again.records, again.positions
        return self.submit_batch(prepared.records, idempotency_key=_retry_key(key))

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
        borrower: str | None = None,
        purpose: Purpose | str = Purpose.NEW_CREDIT,
        consent_ref: str | None = None,
        amount_requested: int | None = None,
        currency: str | None = None,
        *,
        id_kind: str | None = None,
        id_value: str | None = None,
        borrower_next: str | None = None,
        idempotency_key: str | None = None,
    ) -> InquiryReport:
        """Ask how indebted a borrower is across all lenders.

        Name the borrower by token (``borrower``, 64 hex; ``borrower_next`` too during a
        rotation window, if you have it) or by ID (``id_kind`` and ``id_value``): the ID is
        then tokenised first (:meth:`tokenize_pairs`), and both tokens are sent during a
        rotation window. An invalid ID raises :class:`InvalidIdError` before anything is sent.

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
        by_id = id_kind is not None or id_value is not None
        if by_id and (borrower is not None or borrower_next is not None):
            raise ValueError("name the borrower by token or by id_kind/id_value, not both")
        if by_id and (id_kind is None or id_value is None):
            raise ValueError("id_kind and id_value go together")
        if not by_id and borrower is None:
            raise ValueError("name the borrower: borrower=<token> or id_kind=..., id_value=...")
        canonical = normalize_id(id_kind, id_value) if by_id else None  # type: ignore[arg-type]

        def body_for(refresh: bool) -> dict[str, Any]:
            body: dict[str, Any] = {}
            if id_kind is not None and canonical is not None:
                tokenizer = self.tokenizer
                if refresh:
                    tokenizer.key(refresh=True)
                pair = tokenizer.tokenize_canonical([(id_kind, canonical)], both=True)[0]
                body["borrower"] = pair.borrower
                if pair.borrower_next is not None:
                    body["borrower_next"] = pair.borrower_next
            else:
                body["borrower"] = borrower
                if borrower_next is not None:
                    body["borrower_next"] = borrower_next
            body["purpose"] = str(purpose)
            if consent_ref is not None:
                body["consent_ref"] = consent_ref
            if amount_requested is not None:
                body["amount_requested"] = amount_requested
            if currency is not None:
                body["currency"] = currency
            return body

        body = body_for(False)
        key = _key_or_new(idempotency_key)
        try:
            data = self.request("POST", "/v1/inquiries", json_body=body, idempotency_key=key)
        except ValidationError as exc:
            if not (by_id and "borrower_next" in body and _about_borrower_next(exc)):
                raise
            # The rotation window closed since the key was read: read it again and resend.
            log.info("the registry refused borrower_next: refreshing the token key")
            data = self.request(
                "POST", "/v1/inquiries", json_body=body_for(True), idempotency_key=_retry_key(key)
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
