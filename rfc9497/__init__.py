"""RFC 9497 oblivious pseudorandom functions (OPRF and VOPRF modes) for the ristretto255-SHA512
suite, on libsodium through rbcl.

The registry (server role) and the lender SDK (client role) both import this package, so it
depends on nothing but rbcl and the standard library. Modules:

- `suite`: identifiers, sizes and the Mode enum;
- `group`: ristretto255 encodings, hashing to the group and to scalars (section 4.1);
- `dleq`: batched discrete-log-equality proofs (section 2.2);
- `protocol`: key derivation, Blind, BlindEvaluate, Finalize (section 3).
"""

from rfc9497.errors import InvalidElementError, InvalidScalarError, OprfError, VerifyError
from rfc9497.group import decode_element
from rfc9497.protocol import (
    blind,
    blind_evaluate,
    blind_evaluate_batch,
    derive_key_pair,
    evaluate,
    finalize,
    generate_key_pair,
    hash_to_group,
    public_key,
    verify_and_finalize_batch,
)
from rfc9497.suite import ELEMENT_SIZE, OUTPUT_SIZE, PROOF_SIZE, SCALAR_SIZE, SUITE_ID, Mode

__all__ = [
    "ELEMENT_SIZE",
    "OUTPUT_SIZE",
    "PROOF_SIZE",
    "SCALAR_SIZE",
    "SUITE_ID",
    "InvalidElementError",
    "InvalidScalarError",
    "Mode",
    "OprfError",
    "VerifyError",
    "blind",
    "blind_evaluate",
    "blind_evaluate_batch",
    "decode_element",
    "derive_key_pair",
    "evaluate",
    "finalize",
    "generate_key_pair",
    "hash_to_group",
    "public_key",
    "verify_and_finalize_batch",
]
