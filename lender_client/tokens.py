"""Borrower tokens: from a normalised ID to the 64-hex ``borrower`` of every API call.

The scheme (issue 3), the same at every member lender so that one person gets one token:

1. ``canonical = normalize_id(kind, value)`` (:mod:`registry_protocol.ids`);
2. inner layer, here: ``t = HMAC-SHA256(pepper, "<kind>:<canonical>")``, with the 32-byte
   consortium pepper that member lenders share and the registry never sees;
3. outer layer, with the registry: a VOPRF (RFC 9497, ristretto255-SHA512) of ``t`` under the
   registry's key. ``t`` is blinded before it is sent, the registry evaluates the blinded
   elements of a batch and proves (one DLEQ proof per batch) that it used the key it
   publishes, and the client checks the proof against the key it has pinned before using
   any output;
4. the token is the first 32 bytes of the 64-byte VOPRF output, as 64 lowercase hex.

Neither the raw ID nor ``t`` leaves the process: the registry sees blinded elements only,
which are uniformly random group elements, different at each request.

During a rotation window the registry announces the next key (``rotation.kind == "key"``:
same pepper, next key) or a next pepper (``"pepper"``: next pepper, same key); tokens are then
computed twice and sent as ``borrower`` and ``borrower_next``.

This module holds the :class:`Tokenizer`; the pepper is in :mod:`lender_client.pepper`, the
registry's key in :mod:`lender_client.token_key`, the pinning rule in
:mod:`lender_client.key_pins`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import rfc9497
from lender_client.cache import MemoryPinStore, PinStore, TokenCache
from lender_client.errors import (
    ConfigurationError,
    TokenVerificationError,
    UnexpectedResponseError,
    ValidationError,
)
from lender_client.key_pins import check_pins
from lender_client.pepper import (
    PEPPER_ENV,
    PEPPER_FILE_ENV,
    PEPPER_NEXT_ENV,
    PEPPER_NEXT_FILE_ENV,
    Pepper,
    check_pepper,
    inner_token_input,
    load_pepper,
)
from lender_client.token_key import SUITE, KeyInfo, Rotation, TokenKey, parse_public_key
from registry_protocol.ids import normalize_id, token_input

# The pepper and key names stay importable from here, where they were first.
__all__ = [
    "MAX_EVALUATE_BATCH",
    "PEPPER_ENV",
    "PEPPER_FILE_ENV",
    "PEPPER_NEXT_ENV",
    "PEPPER_NEXT_FILE_ENV",
    "SUITE",
    "KeyInfo",
    "Pepper",
    "Rotation",
    "TokenKey",
    "TokenPair",
    "Tokenizer",
    "check_pepper",
    "inner_token_input",
    "load_pepper",
    "parse_public_key",
]

log = logging.getLogger("lender_client")

#: The most blinded elements one ``POST /v1/tokens/evaluate`` takes.
MAX_EVALUATE_BATCH = 1000
_CACHE_LABEL = b"lender-client token cache v1"
_HEX = frozenset("0123456789abcdefABCDEF")


@dataclass(frozen=True, slots=True)
class TokenPair:
    """A borrower's token and, during a rotation window, their token after the rotation."""

    borrower: str
    borrower_next: str | None = None


#: ``GET /v1/tokens/key``: returns the decoded JSON answer.
FetchKey = Callable[[], Any]
#: ``POST /v1/tokens/evaluate`` with ``(blinded elements as hex, key_id)``: the decoded answer.
Evaluate = Callable[[list[str], str], Any]
ProgressCallback = Callable[[int], None]


class Tokenizer:
    """Turns ``(kind, value)`` IDs into tokens with the registry's help, checking every
    answer against the pinned key; used by :class:`~lender_client.RegistryClient`.

    :param fetch_key: gets ``GET /v1/tokens/key``'s JSON.
    :param evaluate: sends ``POST /v1/tokens/evaluate`` for ``(blinded_hex, key_id)``.
    :param pepper: the consortium pepper (``None``: tokenising raises a clear error).
    :param next_pepper: the next pepper, needed during a pepper rotation window only.
    :param cache: the token cache (``None``: no cache, pins in memory).
    :param trust_new_keys: pin a key id the client has not seen before without asking. A
        changed public key for a key id already pinned is never accepted this way.
    :param key_ttl: seconds the registry's key information is reused before asking again
        (a rotation window is noticed within this time).
    :param concurrency: batches of 1,000 in flight at once (1: one after the other).
    """

    def __init__(
        self,
        fetch_key: FetchKey,
        evaluate: Evaluate,
        pepper: Pepper | None,
        next_pepper: Pepper | None = None,
        cache: TokenCache | None = None,
        *,
        pins: PinStore | None = None,
        trust_new_keys: bool = False,
        key_ttl: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        concurrency: int = 2,
    ) -> None:
        self._fetch_key = fetch_key
        self._evaluate_call = evaluate
        self.pepper = pepper
        self.next_pepper = next_pepper
        self.cache = cache
        self._pins: PinStore = pins if pins is not None else (cache or MemoryPinStore())
        self.trust_new_keys = trust_new_keys
        self.key_ttl = key_ttl
        self.concurrency = concurrency
        self._clock = clock
        self._key: TokenKey | None = None
        self._key_fetched = 0.0
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return (
            f"Tokenizer(pepper={self.pepper!r}, next_pepper={self.next_pepper!r}, "
            f"cache={self.cache!r})"
        )

    # -- keys -----------------------------------------------------------------------------

    def key(self, refresh: bool = False) -> TokenKey:
        """The registry's key information, checked against the pins (fetched again after
        ``key_ttl`` seconds, or at once with ``refresh``)."""
        with self._lock:
            now = self._clock()
            if refresh or self._key is None or now - self._key_fetched >= self.key_ttl:
                data = self._fetch_key()
                if not isinstance(data, Mapping):
                    raise UnexpectedResponseError("expected a JSON object for the token key")
                key = TokenKey.from_json(data)
                self._check_pins(key)
                if self.cache is not None:
                    # Tokens under a retired key can never match again: drop them.
                    live = {key.current.key_id}
                    if key.rotation is not None:
                        live.add(key.rotation.next.key_id)
                    self.cache.forget_keys_except(live)
                self._key, self._key_fetched = key, now
            assert self._key is not None
            return self._key

    def _check_pins(self, key: TokenKey) -> None:
        check_pins(self._pins, key, self.trust_new_keys)

    def trust_key(self, key_id: str, public_key_hex: str) -> None:
        """Pin ``public_key_hex`` for ``key_id`` (replacing an earlier pin)."""
        if not key_id or not key_id.strip():
            raise ValueError("key_id must not be empty")
        raw = parse_public_key(public_key_hex)
        with self._lock:
            self._pins.pin(key_id.strip(), raw.hex(), "trust_key")
            self._key = None

    def pins(self) -> dict[str, str]:
        return self._pins.pins()

    # -- tokens ---------------------------------------------------------------------------

    def _require_pepper(self) -> Pepper:
        if self.pepper is None:
            raise ConfigurationError(
                "no pepper: tokenising an ID needs the consortium pepper. Set REGISTRY_PEPPER "
                "(64 hex characters) or REGISTRY_PEPPER_FILE (a file holding them), or pass "
                "pepper=...",
                setting="pepper",
            )
        return self.pepper

    def targets(self, both: bool) -> tuple[TokenKey, list[tuple[Pepper, KeyInfo]]]:
        """The (pepper, key) pairs to tokenise under: the current one, and the next one when
        ``both`` and a rotation window is open."""
        pepper = self._require_pepper()
        key = self.key()
        check_pepper(pepper, key.pepper_fingerprint, "current")
        targets = [(pepper, key.current)]
        rotation = key.rotation
        if both and rotation is not None:
            if rotation.kind == "pepper":
                if self.next_pepper is None:
                    raise ConfigurationError(
                        f"the registry has opened a pepper rotation window "
                        f"({rotation.label or 'no label'}): tokens must also be computed "
                        "with the next pepper, and none is configured. Set REGISTRY_PEPPER_NEXT "
                        "or REGISTRY_PEPPER_NEXT_FILE, or pass next_pepper=...",
                        setting="next_pepper",
                    )
                if self.next_pepper == pepper:
                    raise ConfigurationError(
                        "the next pepper is the same as the current one; a pepper rotation "
                        "needs the new pepper the consortium has sent"
                    )
                check_pepper(self.next_pepper, rotation.next_pepper_fingerprint, "next")
                targets.append((self.next_pepper, rotation.next))
            else:
                targets.append((pepper, rotation.next))
        return key, targets

    def tokenize(
        self,
        ids: Sequence[tuple[str, str]],
        *,
        both: bool = False,
        on_progress: ProgressCallback | None = None,
    ) -> list[TokenPair]:
        """Tokens for ``(kind, value)`` IDs, in input order.

        Raises :class:`~lender_client.InvalidIdError` for the first bad ID (with a note giving
        its position, never the value). With ``both``, during a rotation window, each pair
        also has ``borrower_next``.
        """
        inputs: list[tuple[str, str]] = []
        for position, (kind, value) in enumerate(ids):
            try:
                inputs.append((kind, normalize_id(kind, value)))
            except ValueError as exc:
                exc.add_note(f"the ID at position {position} of the batch")
                raise
        return self.tokenize_canonical(inputs, both=both, on_progress=on_progress)

    def tokenize_canonical(
        self,
        ids: Sequence[tuple[str, str]],
        *,
        both: bool = False,
        on_progress: ProgressCallback | None = None,
    ) -> list[TokenPair]:
        """As :meth:`tokenize`, for IDs already normalised by ``normalize_id``."""
        if not ids:
            return []
        _, targets = self.targets(both)
        try:
            results = [
                self._tokens(pepper, key, ids, on_progress if n == 0 else None)
                for n, (pepper, key) in enumerate(targets)
            ]
        except ValidationError as exc:
            if not any(e.field == "key_id" for e in exc.field_errors):
                raise
            # The key changed since it was read (a rotation was retired): read it again.
            log.info("the registry no longer evaluates under the key read: refreshing it")
            self.key(refresh=True)
            _, targets = self.targets(both)
            results = [
                self._tokens(pepper, key, ids, on_progress if n == 0 else None)
                for n, (pepper, key) in enumerate(targets)
            ]
        if len(results) == 1:
            return [TokenPair(token) for token in results[0]]
        return [TokenPair(cur, nxt) for cur, nxt in zip(results[0], results[1], strict=True)]

    def _tokens(
        self,
        pepper: Pepper,
        key: KeyInfo,
        ids: Sequence[tuple[str, str]],
        on_progress: ProgressCallback | None,
    ) -> list[str]:
        # Distinct IDs only, each evaluated once; then the answer spread back in input order.
        unique = list(dict.fromkeys(token_input(kind, canonical) for kind, canonical in ids))
        found: dict[bytes, bytes] = {}
        lookups: dict[bytes, bytes] = {}
        if self.cache is not None:
            cache_key = pepper.mac(_CACHE_LABEL)
            lookups = {item: hmac.new(cache_key, item, hashlib.sha256).digest() for item in unique}
            hits = self.cache.get_many(list(lookups.values()), key.key_id, key.public_key)
            found = {item: hits[lookup] for item, lookup in lookups.items() if lookup in hits}
        missing = [item for item in unique if item not in found]
        log.debug(
            "tokenising %d distinct IDs under key %s: %d cached, %d to evaluate",
            len(unique),
            key.key_id,
            len(found),
            len(missing),
        )
        if on_progress is not None and found:
            on_progress(len(found))
        chunks = [
            missing[start : start + MAX_EVALUATE_BATCH]
            for start in range(0, len(missing), MAX_EVALUATE_BATCH)
        ]
        for chunk, tokens in zip(chunks, self._evaluate_all(pepper, key, chunks), strict=True):
            fresh = dict(zip(chunk, tokens, strict=True))
            found.update(fresh)
            if self.cache is not None:
                self.cache.put_many(
                    {lookups[item]: token for item, token in fresh.items()},
                    key.key_id,
                    key.public_key,
                )
            if on_progress is not None:
                on_progress(len(chunk))
        return [found[token_input(kind, canonical)].hex() for kind, canonical in ids]

    def _evaluate_all(
        self, pepper: Pepper, key: KeyInfo, chunks: list[list[bytes]]
    ) -> Iterator[list[bytes]]:
        """Each chunk's tokens, in order. Batches overlap (two at a time by default): one is
        blinded or verified here while the registry evaluates another, so that both the
        client's and the server's cores work. libsodium runs without the GIL."""
        if self.concurrency <= 1 or len(chunks) <= 1:
            yield from (self._evaluate(pepper, key, chunk) for chunk in chunks)
            return
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="tokenize") as pool:
            yield from pool.map(lambda chunk: self._evaluate(pepper, key, chunk), chunks)

    def _evaluate(self, pepper: Pepper, key: KeyInfo, items: list[bytes]) -> list[bytes]:
        """One ``POST /v1/tokens/evaluate``: blind, evaluate, verify, finalise."""
        private = [pepper.mac(item) for item in items]
        blinds: list[bytes] = []
        blinded: list[bytes] = []
        for value in private:
            scalar, element = rfc9497.blind(value, rfc9497.Mode.VOPRF)
            blinds.append(scalar)
            blinded.append(element)
        data = self._evaluate_call([e.hex() for e in blinded], key.key_id)
        if not isinstance(data, Mapping):
            raise TokenVerificationError("the token evaluation answer is not a JSON object")
        if data.get("key_id") != key.key_id:
            raise TokenVerificationError(
                f"asked for an evaluation under key {key.key_id!r}, got one under "
                f"{data.get('key_id')!r}"
            )
        evaluated = _hex_list(data.get("evaluated_elements"), len(items), 32)
        proof = _hex_bytes(data.get("proof"), 64, "proof")
        try:
            outputs = rfc9497.verify_and_finalize_batch(
                key.public_key, private, blinds, blinded, evaluated, proof
            )
        except rfc9497.VerifyError:
            raise TokenVerificationError(
                f"the registry's proof for a batch of {len(items)} token evaluations does not "
                f"verify against the pinned key {key.key_id!r}: no token from it was used"
            ) from None
        except rfc9497.OprfError as exc:
            raise TokenVerificationError(
                f"the registry's token evaluation is unusable: {exc}"
            ) from None
        return [output[:32] for output in outputs]


def _hex_bytes(value: object, size: int, what: str) -> bytes:
    if not isinstance(value, str) or len(value) != 2 * size or not set(value) <= _HEX:
        raise TokenVerificationError(
            f"the token evaluation's {what} is not {2 * size} hexadecimal characters"
        )
    return bytes.fromhex(value)


def _hex_list(value: object, count: int, size: int) -> list[bytes]:
    if not isinstance(value, list) or len(value) != count:
        got = len(value) if isinstance(value, list) else "no list"
        raise TokenVerificationError(
            f"sent {count} blinded elements for evaluation, got {got} evaluated elements back"
        )
    return [_hex_bytes(item, size, f"evaluated element {i}") for i, item in enumerate(value)]
