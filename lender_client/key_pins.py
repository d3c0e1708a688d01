"""Key pinning: the registry's token key is used only if this client trusts it.

Trust on first use: with no pins at all, the current key is pinned. After that, a key id not
seen before (the next key of a rotation) needs ``trust_key`` (or ``trust_new_keys``), and a
changed public key for a pinned key id is refused until the consortium confirms it.
"""

from __future__ import annotations

import hmac
import logging

from lender_client.cache import PinStore
from lender_client.errors import UntrustedKeyError
from lender_client.token_key import TokenKey

__all__ = ["check_pins"]

log = logging.getLogger("lender_client")


def check_pins(store: PinStore, key: TokenKey, trust_new_keys: bool) -> None:
    """Check the registry's current key (and the next one, during a key rotation) against the
    pinned keys, pinning what may be pinned: the current key on first use (no pins yet), or a
    key id not seen before when ``trust_new_keys``. A different public key for a key id
    already pinned is always refused (:class:`UntrustedKeyError`)."""
    pins = store.pins()
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
                role,
            )
        if not pins and role == "current":
            how = "first use"
        elif trust_new_keys:
            how = "trust_new_keys"
        else:
            raise UntrustedKeyError(
                f"the registry presents a new {role} token key {info.key_id!r} "
                f"({info.public_key_hex}) that this client has not been told to trust. "
                "Check it with the consortium, then run "
                f"`lender-client trust-key {info.key_id} {info.public_key_hex}` "
                "(or pass trust_new_keys=True)",
                info.key_id,
                info.public_key_hex,
                role=role,
            )
        log.info("pinning token key %s (%s)", info.key_id, how)
        store.pin(info.key_id, info.public_key_hex, how)
        pins[info.key_id] = info.public_key_hex
