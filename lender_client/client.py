"""The HTTP client for the registry API.

>>> from lender_client import RegistryClient
>>> with RegistryClient() as client:            # REGISTRY_URL / REGISTRY_API_KEY  # doctest: +SKIP
...     summary = client.report_loans(reports)   # any iterable, sent in batches
...     report = client.inquire(token, consent_ref="APP-2026-0001")
...     client.record_outcome(report.inquiry_id, "approved", loan_ref="L-42",
...                           amount=300_000, currency="CNY")

Failed calls raise a subclass of :class:`~lender_client.errors.RegistryError`. Connection
failures, timeouts, answers cut short, 408, 429, 502, 503 and 504 are retried for up to
``retry_for`` seconds (60 by default) with exponential backoff and full jitter (honouring
``Retry-After``); every POST carries an ``Idempotency-Key`` that stays the same across its
retries, so a retried upload or inquiry is never applied or recorded twice.

Borrowers can be named by ID instead of by token: ``client.tokenize("cn_resident_id", id)``,
``client.inquire(id_kind=..., id_value=..., ...)``, or loan reports with ``id_kind`` and
``id_value`` in place of ``borrower``. The client then derives the tokens with the registry's
help (see :mod:`lender_client.tokens`): it needs the consortium pepper (``$REGISTRY_PEPPER``
or ``$REGISTRY_PEPPER_FILE``), never sends the ID, and caches the tokens locally
(:mod:`lender_client.cache`). During a rotation window it sends ``borrower_next`` as well,
and :meth:`~RegistryClient.retokenize_ids` covers what no upload re-sends (closed loans,
inquiries) from the lender's own records (:mod:`lender_client.rotation`).
A phone number never names a borrower; loan reports and inquiries may carry it as ``phone``,
a secondary identifier the client tokenises the same way and sends as ``phone_token``.

The client is assembled from one module per job: :mod:`~lender_client.transport` (HTTP and
retries), :mod:`~lender_client.tokenizing` (IDs to tokens), :mod:`~lender_client.loans`,
:mod:`~lender_client.uploads`, :mod:`~lender_client.inquiries`,
:mod:`~lender_client.outcomes` and :mod:`~lender_client.disputes` (the API's resources).
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from typing import Any

import requests

from lender_client.cache import TokenCache
from lender_client.disputes import DisputesAPI
from lender_client.errors import RegistryError
from lender_client.idempotency import new_idempotency_key
from lender_client.inquiries import InquiriesAPI
from lender_client.loans import MAX_BATCH_SIZE
from lender_client.outcomes import OutcomesAPI
from lender_client.pepper import Pepper
from lender_client.retries import (
    DEFAULT_RETRY_FOR,
    backoff_delay,
    is_retryable,
    parse_retry_after,
)
from lender_client.rotation import RotationAPI
from lender_client.transport import DEFAULT_BASE_URL
from lender_client.uploads import UploadsAPI

__all__ = [
    "DEFAULT_BASE_URL",
    "MAX_BATCH_SIZE",
    "RegistryClient",
    "backoff_delay",
    "is_retryable",
    "new_idempotency_key",
    "parse_retry_after",
]


class RegistryClient(UploadsAPI, InquiriesAPI, OutcomesAPI, RotationAPI, DisputesAPI):
    """A connection to the registry on behalf of one lender.

    :param base_url: the registry's URL; defaults to ``$REGISTRY_URL``, else
        ``http://127.0.0.1:5000``. A path prefix is kept (``https://host/registry``).
    :param api_key: the lender's API key; defaults to ``$REGISTRY_API_KEY``. Required.
    :param timeout: seconds to wait for the connection and then for each read; a number, or a
        ``(connect, read)`` pair. Always applied.
    :param max_retries: at most this many retries of a failed request (0 disables retries);
        ``None``, the default: as many as ``retry_for`` allows.
    :param retry_for: seconds a request that failed for a passing reason (connection refused
        or reset, timeout, an answer cut short, 429, 502, 503, 504) keeps being retried, with
        the same idempotency key; no new attempt starts after it, and a ``Retry-After`` that
        runs past it is not waited for. Default 60.
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
    :param allow_insecure_http: plain ``http://`` is refused except to a loopback address
        (the API key would cross the network readable); ``True`` (or
        ``$REGISTRY_ALLOW_INSECURE_HTTP=1``) allows it, for a network you trust.

    A client keeps one HTTP session (connection pool); use it as a context manager or call
    :meth:`close`. It is not safe to share one client between threads: give each its own.
    """

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
        pepper: Pepper | str | bytes | os.PathLike[str] | None = None,
        next_pepper: Pepper | str | bytes | os.PathLike[str] | None = None,
        token_cache: TokenCache | str | os.PathLike[str] | bool | None = None,
        trust_new_keys: bool = False,
        key_ttl: float = 60.0,
        allow_insecure_http: bool | None = None,
    ) -> None:
        super().__init__(
            base_url,
            api_key,
            timeout,
            max_retries,
            retry_for=retry_for,
            backoff_base=backoff_base,
            backoff_cap=backoff_cap,
            max_retry_after=max_retry_after,
            sleep=sleep,
            rand=rand,
            session=session,
            user_agent=user_agent,
            allow_insecure_http=allow_insecure_http,
        )
        self._init_tokens(pepper, next_pepper, token_cache, trust_new_keys, key_ttl)

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
