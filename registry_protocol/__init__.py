"""What the registry and its lenders must agree on byte for byte.

Both sides import this package (and :mod:`rfc9497`); it imports neither of them, and nothing
beyond the standard library. It holds:

- :mod:`registry_protocol.ids`: ID kinds, their normalisation and validation, the token input;
- :mod:`registry_protocol.pepper`: the consortium pepper's HMAC (the inner layer of a token)
  and its fingerprint;
- :mod:`registry_protocol.wire`: the enumerations that travel in requests and responses;
- the project's version, shared by both distributions.
"""

from registry_protocol._version import __version__
from registry_protocol.ids import ID_KINDS, InvalidIdError, normalize_id, token_input
from registry_protocol.pepper import (
    PEPPER_SIZE,
    inner_token_input,
    pepper_fingerprint,
    pepper_mac,
)
from registry_protocol.wire import FlagCode, LoanStatus, Product, Purpose

__all__ = [
    "ID_KINDS",
    "PEPPER_SIZE",
    "FlagCode",
    "InvalidIdError",
    "LoanStatus",
    "Product",
    "Purpose",
    "__version__",
    "inner_token_input",
    "normalize_id",
    "pepper_fingerprint",
    "pepper_mac",
    "token_input",
]
