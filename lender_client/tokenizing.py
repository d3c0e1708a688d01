"""The client's side of naming borrowers by ID: the pepper, the token cache and pinned keys,
and the :class:`~lender_client.tokens.Tokenizer` wired to the registry's token endpoints.

The ID never leaves the process: it is normalised, peppered and blinded here (see
:mod:`lender_client.tokens`), and tokens are cached locally (:mod:`lender_client.cache`).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from typing import Any

from lender_client.cache import MemoryPinStore, PinStore, TokenCache, resolve_cache_path
from lender_client.errors import ConfigurationError, RegistryError
from lender_client.pepper import Pepper, load_pepper
from lender_client.token_key import TokenKey
from lender_client.tokens import Tokenizer, TokenPair
from lender_client.transport import Transport

__all__ = ["TokenizingTransport", "about_borrower_next"]


def about_borrower_next(exc: RegistryError) -> bool:
    """Whether the registry refused a request for its ``borrower_next`` (the rotation window
    closed, or changed, since the token key was read)."""
    return any(e.record_field == "borrower_next" for e in exc.field_errors)


class TokenizingTransport(Transport):
    """A :class:`~lender_client.transport.Transport` that can also turn IDs into tokens."""

    def _init_tokens(
        self,
        pepper: Pepper | str | bytes | os.PathLike[str] | None,
        next_pepper: Pepper | str | bytes | os.PathLike[str] | None,
        token_cache: TokenCache | str | os.PathLike[str] | bool | None,
        trust_new_keys: bool,
        key_ttl: float,
    ) -> None:
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

    def close(self) -> None:
        """Release the connection pool (if the client created its session) and the token
        cache (if the client opened it)."""
        super().close()
        if self._owns_cache and self._cache is not None:
            self._cache.close()
            self._cache = None
            self._tokenizer = None

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
        the message). The ID is blinded before anything is sent. A phone's token is a
        ``phone_token`` (a secondary identifier), never a borrower's: borrowers are named by
        the other kinds (``BORROWER_KINDS``).
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
