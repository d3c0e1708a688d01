"""Borrower tokens: from a normalised ID to the 64-hex ``borrower`` of every API call.

The scheme (issue 3), the same at every member lender so that one person gets one token:

1. ``canonical = normalize_id(kind, value)`` (:mod:`lender_client.ids`);
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
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import stat
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import rfc9497
from lender_client.cache import MemoryPinStore, PinStore, TokenCache
from lender_client.errors import (
    ConfigurationError,
    TokenVerificationError,
    UnexpectedResponseError,
    UntrustedKeyError,
    ValidationError,
)
from registry_protocol.ids import normalize_id, token_input
from registry_protocol.pepper import PEPPER_SIZE, pepper_fingerprint, pepper_mac
from registry_protocol.pepper import inner_token_input as _protocol_inner_input

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
    "inner_token_input",
    "load_pepper",
]

log = logging.getLogger("lender_client")

SUITE = "ristretto255-SHA512"
MODE = "voprf"
#: The most blinded elements one ``POST /v1/tokens/evaluate`` takes.
MAX_EVALUATE_BATCH = 1000
PEPPER_ENV = "REGISTRY_PEPPER"
PEPPER_FILE_ENV = "REGISTRY_PEPPER_FILE"
PEPPER_NEXT_ENV = "REGISTRY_PEPPER_NEXT"
PEPPER_NEXT_FILE_ENV = "REGISTRY_PEPPER_NEXT_FILE"
_CACHE_LABEL = b"lender-client token cache v1"
_HEX = frozenset("0123456789abcdefABCDEF")


# -- the pepper ------------------------------------------------------------------------------


class Pepper:
    """The 32-byte consortium secret of the inner layer. Its ``repr`` and ``str`` show a
    fingerprint (a one-way function of it, to tell two peppers apart), never the secret.

    >>> Pepper.from_hex("00" * 32)
    Pepper(fingerprint='...')  # doctest: +ELLIPSIS
    """

    __slots__ = ("_secret",)

    def __init__(self, secret: bytes) -> None:
        if not isinstance(secret, bytes | bytearray) or len(secret) != PEPPER_SIZE:
            raise ConfigurationError(f"a pepper is exactly {PEPPER_SIZE} bytes")
        self._secret = bytes(secret)

    @classmethod
    def from_hex(cls, text: str, what: str = "the pepper") -> Pepper:
        """From 64 hexadecimal characters (surrounding white space is ignored)."""
        value = text.strip()
        if len(value) != 2 * PEPPER_SIZE or not set(value) <= _HEX:
            # Never echo the value: it may be a (mistyped) secret.
            raise ConfigurationError(
                f"{what} must be {2 * PEPPER_SIZE} hexadecimal characters "
                f"({PEPPER_SIZE} bytes), got {len(value)} characters"
                + ("" if set(value) <= _HEX else " that are not all hexadecimal")
            )
        return cls(bytes.fromhex(value))

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], what: str = "the pepper file") -> Pepper:
        """From a file holding the 64 hexadecimal characters (and perhaps a newline)."""
        location = Path(path).expanduser()
        try:
            with location.open("rb") as handle:
                mode = os.fstat(handle.fileno()).st_mode
                data = handle.read(4096)
        except OSError as exc:
            raise ConfigurationError(
                f"cannot read {what} {str(location)!r}: {exc.strerror or exc}"
            ) from None
        if stat.S_ISREG(mode) and mode & 0o077:
            log.warning(
                "%s %s can be read by other users (mode %o); chmod 600 it",
                what,
                location,
                stat.S_IMODE(mode),
            )
        try:
            text = data.decode("ascii")
        except UnicodeDecodeError:
            raise ConfigurationError(
                f"{what} {str(location)!r} must hold 64 hexadecimal characters"
            ) from None
        return cls.from_hex(text, f"{what} {str(location)!r}")

    def mac(self, message: bytes) -> bytes:
        """HMAC-SHA256 of ``message`` under the pepper."""
        return pepper_mac(self._secret, message)

    @property
    def fingerprint(self) -> str:
        """16 hex characters that identify the pepper without revealing it."""
        return pepper_fingerprint(self._secret)

    def __repr__(self) -> str:
        return f"Pepper(fingerprint={self.fingerprint!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Pepper):
            return NotImplemented
        return hmac.compare_digest(self._secret, other._secret)

    def __hash__(self) -> int:
        return hash(self.fingerprint)

    def __reduce__(self) -> Any:
        raise TypeError("a Pepper is not picklable (it would write the secret out)")


def load_pepper(
    value: Pepper | str | bytes | os.PathLike[str] | None,
    *,
    next_pepper: bool = False,
) -> Pepper | None:
    """The pepper from an explicit value or, for ``None``, the environment.

    ``value`` may be a :class:`Pepper`, 32 raw bytes, 64 hex characters (``str``) or the path
    of a file holding them (:class:`os.PathLike`). ``None`` reads ``$REGISTRY_PEPPER`` (hex)
    or ``$REGISTRY_PEPPER_FILE`` (a path); with ``next_pepper``, ``$REGISTRY_PEPPER_NEXT`` or
    ``$REGISTRY_PEPPER_NEXT_FILE``. Returns ``None`` when nothing is configured.
    """
    if isinstance(value, Pepper):
        return value
    if isinstance(value, bytes | bytearray):
        return Pepper(bytes(value))
    if isinstance(value, str):
        return Pepper.from_hex(value, "the next pepper" if next_pepper else "the pepper")
    if value is not None:
        return Pepper.from_file(value)
    hex_var, file_var = (
        (PEPPER_NEXT_ENV, PEPPER_NEXT_FILE_ENV) if next_pepper else (PEPPER_ENV, PEPPER_FILE_ENV)
    )
    hex_value = os.environ.get(hex_var, "").strip()
    file_value = os.environ.get(file_var, "").strip()
    if hex_value and file_value:
        raise ConfigurationError(f"set {hex_var} or {file_var}, not both")
    if hex_value:
        return Pepper.from_hex(hex_value, f"${hex_var}")
    if file_value:
        return Pepper.from_file(file_value, f"the file named by ${file_var}")
    return None


def inner_token_input(pepper: Pepper, kind: str, canonical: str) -> bytes:
    """The inner layer: ``HMAC-SHA256(pepper, "<kind>:<canonical>")``, the VOPRF input."""
    return _protocol_inner_input(pepper._secret, kind, canonical)


# -- the registry's key ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeyInfo:
    """One registry evaluation key: its id and its public key (32 bytes)."""

    key_id: str
    public_key: bytes

    @property
    def public_key_hex(self) -> str:
        return self.public_key.hex()


@dataclass(frozen=True, slots=True)
class Rotation:
    """An open rotation window. ``kind == "key"``: tokens move to the ``next`` key (same
    pepper); ``kind == "pepper"``: tokens move to the next pepper (``next`` is the current
    key)."""

    kind: str
    label: str
    opened_at: str | None
    next: KeyInfo
    # The fingerprint of the pepper next tokens are made with, when the registry has one.
    next_pepper_fingerprint: str | None = None


@dataclass(frozen=True, slots=True)
class TokenKey:
    """The answer to ``GET /v1/tokens/key``."""

    suite: str
    mode: str
    current: KeyInfo
    rotation: Rotation | None
    raw: dict[str, Any] = field(repr=False, compare=False)
    # The consortium pepper's fingerprint as the registry's operator recorded it, if any.
    pepper_fingerprint: str | None = None

    @property
    def key_id(self) -> str:
        return self.current.key_id

    @property
    def public_key(self) -> str:
        """The current public key as 64 hex."""
        return self.current.public_key_hex

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> TokenKey:
        suite = data.get("suite")
        mode = data.get("mode")
        if suite != SUITE or mode != MODE:
            raise UnexpectedResponseError(
                f"the registry's token key is for suite {suite!r}, mode {mode!r}; this client "
                f"speaks {SUITE!r}, {MODE!r}"
            )
        current = _key_info(data, "the token key")
        rotation: Rotation | None = None
        raw_rotation = data.get("rotation")
        if raw_rotation is not None:
            if not isinstance(raw_rotation, Mapping):
                raise UnexpectedResponseError("the token key's rotation is not an object")
            kind = raw_rotation.get("kind")
            if kind not in ("key", "pepper"):
                raise UnexpectedResponseError(f"unknown kind of token rotation: {kind!r}")
            nxt = raw_rotation.get("next")
            if not isinstance(nxt, Mapping):
                raise UnexpectedResponseError("the token key's rotation has no next key")
            opened = raw_rotation.get("opened_at")
            label = raw_rotation.get("label")
            rotation = Rotation(
                kind=str(kind),
                label=label if isinstance(label, str) else "",
                opened_at=opened if isinstance(opened, str) else None,
                next=_key_info(nxt, "the next token key"),
                next_pepper_fingerprint=_fingerprint(nxt.get("pepper_fingerprint")),
            )
        return cls(
            suite=suite,
            mode=mode,
            current=current,
            rotation=rotation,
            raw=dict(data),
            pepper_fingerprint=_fingerprint(data.get("pepper_fingerprint")),
        )


def _fingerprint(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) != 16 or not set(value) <= _HEX:
        raise UnexpectedResponseError("the token key's pepper fingerprint is not 16 hex")
    return value


def check_pepper(pepper: Pepper, expected: str | None, which: str) -> None:
    """Refuse a pepper whose fingerprint is not the one the registry publishes: its tokens
    would be well-formed and match nobody, silently."""
    if expected is not None and not hmac.compare_digest(pepper.fingerprint, expected):
        raise ConfigurationError(
            f"the {which} pepper configured here (fingerprint {pepper.fingerprint}) is not the "
            f"consortium's {which} pepper (fingerprint {expected}, as the registry publishes "
            "it). Its tokens would match nobody; get the right pepper from the consortium "
            "(after a pepper rotation, the new one replaces REGISTRY_PEPPER)."
        )


def _decode_public_key(value: object, what: str) -> bytes:
    if not isinstance(value, str) or len(value) != 64 or not set(value) <= _HEX:
        raise UnexpectedResponseError(f"{what}: the public key is not 64 hexadecimal characters")
    raw = bytes.fromhex(value)
    try:
        rfc9497.decode_element(raw)
    except rfc9497.OprfError:
        raise UnexpectedResponseError(f"{what}: the public key is not a valid element") from None
    return raw


def _key_info(data: Mapping[str, Any], what: str) -> KeyInfo:
    key_id = data.get("key_id")
    if not isinstance(key_id, str) or not key_id:
        raise UnexpectedResponseError(f"{what} has no key_id")
    return KeyInfo(key_id, _decode_public_key(data.get("public_key"), what))


def parse_public_key(value: str) -> bytes:
    """A public key given by a person (64 hex): ``ValueError`` if it is not a valid one."""
    text = value.strip().lower()
    if len(text) != 64 or not set(text) <= _HEX:
        raise ValueError("a public key is 64 hexadecimal characters")
    raw = bytes.fromhex(text)
    try:
        rfc9497.decode_element(raw)
    except rfc9497.OprfError:
        raise ValueError("not a valid ristretto255 public key") from None
    return raw


# -- tokenising ------------------------------------------------------------------------------


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
        pins = self._pins.pins()
        roles = [("current", key.current)]
        if key.rotation is not None and key.rotation.next.key_id != key.current.key_id:
            roles.append(("next", key.rotation.next))
        for role, info in roles:
            pinned = pins.get(info.key_id)
            if pinned is not None:
                if hmac.compare_digest(pinned, info.public_key_hex):
                    continue
                raise UntrustedKeyError(
                    f"the registry's {role} token key {info.key_id!r} is not the pinned one: "
                    f"pinned {pinned}, now {info.public_key_hex}. Refusing to use it. If the "
                    "consortium confirms the change, trust it with "
                    f"`lender-client trust-key {info.key_id} {info.public_key_hex}`",
                    info.key_id,
                    info.public_key_hex,
                    pinned,
                )
            if not pins and role == "current":
                how = "first use"
            elif self.trust_new_keys:
                how = "trust_new_keys"
            else:
                raise UntrustedKeyError(
                    f"the registry presents a new {role} token key {info.key_id!r} "
                    f"({info.public_key_hex}) that this client has not been told to trust. "
                    "Check it with the consortium, then run "
                    f"`lender-client trust-key {info.key_id} {info.public_key_hex}` "
                    "(or pass --trust-new-keys / trust_new_keys=True)",
                    info.key_id,
                    info.public_key_hex,
                )
            log.info("pinning token key %s (%s)", info.key_id, how)
            self._pins.pin(info.key_id, info.public_key_hex, how)
            pins[info.key_id] = info.public_key_hex

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
                "pepper=... (CLI: --pepper-file)"
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
                        "with the next pepper, and none is configured. Set "
                        "REGISTRY_PEPPER_NEXT or REGISTRY_PEPPER_NEXT_FILE (CLI: "
                        "--next-pepper-file), or pass next_pepper=..."
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
