"""The `rfc9497` package: RFC 9497 test vectors for ristretto255-SHA512 (OPRF and VOPRF modes),
element and proof rejection, and the protocol's round-trip properties."""

from __future__ import annotations

import hashlib
import pickle
import secrets
from dataclasses import dataclass
from typing import Any

import pytest
import rbcl

import rfc9497
from rfc9497 import InvalidElementError, InvalidScalarError, Mode, OprfError, VerifyError

# ---------------------------------------------------------------------------------------------
# Test vectors: RFC 9497, Appendix A.1.1 (OPRF(ristretto255, SHA-512)) and A.1.2
# (VOPRF(ristretto255, SHA-512)). Hex strings as printed in the RFC.
# ---------------------------------------------------------------------------------------------
SEED = "a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3"
KEY_INFO = "74657374206b6579"  # "test key"
INPUT_1 = "00"
INPUT_2 = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a"
BLIND_1 = "64d37aed22a27f5191de1c1d69fadb899d8862b58eb4220029e036ec4c1f6706"
BLIND_2 = "222a5e897cf59db8145db8d16e597e8facb80ae7d4e26d9881aa6f61d645fc0e"

# A.1.1, OPRF mode
OPRF_SK = "5ebcea5ee37023ccb9fc2d2019f9d7737be85591ae8652ffa9ef0f4d37063b0e"


@dataclass(frozen=True)
class Vector:
    inputs: tuple[str, ...]
    blinds: tuple[str, ...]
    blinded: tuple[str, ...]
    evaluated: tuple[str, ...]
    outputs: tuple[str, ...]
    proof: str = ""
    proof_r: str = ""


OPRF_VECTORS = [
    Vector(  # A.1.1.1
        inputs=(INPUT_1,),
        blinds=(BLIND_1,),
        blinded=("609a0ae68c15a3cf6903766461307e5c8bb2f95e7e6550e1ffa2dc99e412803c",),
        evaluated=("7ec6578ae5120958eb2db1745758ff379e77cb64fe77b0b2d8cc917ea0869c7e",),
        outputs=(
            "527759c3d9366f277d8c6020418d96bb393ba2afb20ff90df23fb7708264e2f3"
            "ab9135e3bd69955851de4b1f9fe8a0973396719b7912ba9ee8aa7d0b5e24bcf6",
        ),
    ),
    Vector(  # A.1.1.2
        inputs=(INPUT_2,),
        blinds=(BLIND_1,),
        blinded=("da27ef466870f5f15296299850aa088629945a17d1f5b7f5ff043f76b3c06418",),
        evaluated=("b4cbf5a4f1eeda5a63ce7b77c7d23f461db3fcab0dd28e4e17cecb5c90d02c25",),
        outputs=(
            "f4a74c9c592497375e796aa837e907b1a045d34306a749db9f34221f7e750cb4"
            "f2a6413a6bf6fa5e19ba6348eb673934a722a7ede2e7621306d18951e7cf2c73",
        ),
    ),
]

# A.1.2, VOPRF mode
VOPRF_SK = "e6f73f344b79b379f1a0dd37e07ff62e38d9f71345ce62ae3a9bc60b04ccd909"
VOPRF_PK = "c803e2cc6b05fc15064549b5920659ca4a77b2cca6f04f6b357009335476ad4e"
VOPRF_OUTPUT_1 = (
    "b58cfbe118e0cb94d79b5fd6a6dafb98764dff49c14e1770b566e42402da1a7d"
    "a4d8527693914139caee5bd03903af43a491351d23b430948dd50cde10d32b3c"
)
VOPRF_OUTPUT_2 = (
    "8a9a2f3c7f085b65933594309041fc1898d42d0858e59f90814ae90571a6df60"
    "356f4610bf816f27afdd84f47719e480906d27ecd994985890e5f539e7ea74b6"
)
VOPRF_VECTORS = [
    Vector(  # A.1.2.1
        inputs=(INPUT_1,),
        blinds=(BLIND_1,),
        blinded=("863f330cc1a1259ed5a5998a23acfd37fb4351a793a5b3c090b642ddc439b945",),
        evaluated=("aa8fa048764d5623868679402ff6108d2521884fa138cd7f9c7669a9a014267e",),
        outputs=(VOPRF_OUTPUT_1,),
        proof=(
            "ddef93772692e535d1a53903db24367355cc2cc78de93b3be5a8ffcc6985dd06"
            "6d4346421d17bf5117a2a1ff0fcb2a759f58a539dfbe857a40bce4cf49ec600d"
        ),
        proof_r=BLIND_2,
    ),
    Vector(  # A.1.2.2
        inputs=(INPUT_2,),
        blinds=(BLIND_1,),
        blinded=("cc0b2a350101881d8a4cba4c80241d74fb7dcbfde4a61fde2f91443c2bf9ef0c",),
        evaluated=("60a59a57208d48aca71e9e850d22674b611f752bed48b36f7a91b372bd7ad468",),
        outputs=(VOPRF_OUTPUT_2,),
        proof=(
            "401a0da6264f8cf45bb2f5264bc31e109155600babb3cd4e5af7d181a2c9dc0a"
            "67154fabf031fd936051dec80b0b6ae29c9503493dde7393b722eafdf5a50b02"
        ),
        proof_r=BLIND_2,
    ),
    Vector(  # A.1.2.3, a batch of two
        inputs=(INPUT_1, INPUT_2),
        blinds=(BLIND_1, BLIND_2),
        blinded=(
            "863f330cc1a1259ed5a5998a23acfd37fb4351a793a5b3c090b642ddc439b945",
            "90a0145ea9da29254c3a56be4fe185465ebb3bf2a1801f7124bbbadac751e654",
        ),
        evaluated=(
            "aa8fa048764d5623868679402ff6108d2521884fa138cd7f9c7669a9a014267e",
            "cc5ac221950a49ceaa73c8db41b82c20372a4c8d63e5dded2db920b7eee36a2a",
        ),
        outputs=(VOPRF_OUTPUT_1, VOPRF_OUTPUT_2),
        proof=(
            "cc203910175d786927eeb44ea847328047892ddf8590e723c37205cb74600b0a"
            "5ab5337c8eb4ceae0494c2cf89529dcf94572ed267473d567aeed6ab873dee08"
        ),
        proof_r="419c4f4f5052c53c45f3da494d2b67b220d02118e0857cdbcf037f9ea84bbe0c",
    ),
]


def unhex(values: tuple[str, ...]) -> list[bytes]:
    return [bytes.fromhex(value) for value in values]


def check_oprf_vector(sk: bytes, vector: Vector) -> None:
    """Blind (with the vector's blind), BlindEvaluate and Finalize, each against the vector."""
    for private_input, blind, blinded, evaluated, output in zip(
        unhex(vector.inputs),
        unhex(vector.blinds),
        unhex(vector.blinded),
        unhex(vector.evaluated),
        unhex(vector.outputs),
        strict=True,
    ):
        assert rfc9497.blind(private_input, Mode.OPRF, blind) == (blind, blinded)
        assert rfc9497.blind_evaluate(sk, blinded) == evaluated
        assert rfc9497.finalize(private_input, blind, evaluated) == output
        assert rfc9497.evaluate(sk, private_input, Mode.OPRF) == output


def check_voprf_vector(sk: bytes, pk: bytes, vector: Vector) -> None:
    """Blind each input, evaluate the batch with the vector's proof nonce r, compare the
    evaluated elements and the proof, then verify and finalize."""
    inputs, blinds = unhex(vector.inputs), unhex(vector.blinds)
    blinded = [
        rfc9497.blind(private_input, Mode.VOPRF, blind)[1]
        for private_input, blind in zip(inputs, blinds, strict=True)
    ]
    assert blinded == unhex(vector.blinded)
    evaluated, proof = rfc9497.blind_evaluate_batch(sk, pk, blinded, bytes.fromhex(vector.proof_r))
    assert evaluated == unhex(vector.evaluated)
    assert proof.hex() == vector.proof
    outputs = rfc9497.verify_and_finalize_batch(pk, inputs, blinds, blinded, evaluated, proof)
    assert outputs == unhex(vector.outputs)


def test_suite_constants() -> None:
    assert rfc9497.SUITE_ID == "ristretto255-SHA512"
    assert (rfc9497.ELEMENT_SIZE, rfc9497.SCALAR_SIZE, rfc9497.PROOF_SIZE, rfc9497.OUTPUT_SIZE) == (
        32,
        32,
        64,
        64,
    )
    assert [int(mode) for mode in Mode] == [0, 1]


def test_derive_key_pair_oprf_vector() -> None:
    sk, pk = rfc9497.derive_key_pair(bytes.fromhex(SEED), bytes.fromhex(KEY_INFO), Mode.OPRF)
    assert sk.hex() == OPRF_SK
    assert pk == rfc9497.public_key(sk)


def test_derive_key_pair_voprf_vector() -> None:
    sk, pk = rfc9497.derive_key_pair(bytes.fromhex(SEED), bytes.fromhex(KEY_INFO), Mode.VOPRF)
    assert (sk.hex(), pk.hex()) == (VOPRF_SK, VOPRF_PK)
    assert rfc9497.public_key(sk) == pk


@pytest.mark.parametrize("vector", OPRF_VECTORS, ids=["A.1.1.1", "A.1.1.2"])
def test_oprf_vector(vector: Vector) -> None:
    check_oprf_vector(bytes.fromhex(OPRF_SK), vector)


@pytest.mark.parametrize("vector", VOPRF_VECTORS, ids=["A.1.2.1", "A.1.2.2", "A.1.2.3-batch"])
def test_voprf_vector(vector: Vector) -> None:
    check_voprf_vector(bytes.fromhex(VOPRF_SK), bytes.fromhex(VOPRF_PK), vector)


def test_every_shared_ristretto255_vector(rfc9497_vectors: list[dict[str, Any]]) -> None:
    """Every ristretto255-SHA512 mode 0 and 1 vector of the RFC's own JSON file."""
    suites = rfc9497_vectors
    checked = 0
    for suite in suites:
        if suite["identifier"] != rfc9497.SUITE_ID or suite["mode"] not in (0, 1):
            continue
        mode = Mode(suite["mode"])
        seed, info = bytes.fromhex(suite["seed"]), bytes.fromhex(suite["keyInfo"])
        sk, pk = rfc9497.derive_key_pair(seed, info, mode)
        assert sk.hex() == suite["skSm"]
        if "pkSm" in suite:
            assert pk.hex() == suite["pkSm"]
        for raw in suite["vectors"]:
            vector = Vector(
                inputs=tuple(raw["Input"].split(",")),
                blinds=tuple(raw["Blind"].split(",")),
                blinded=tuple(raw["BlindedElement"].split(",")),
                evaluated=tuple(raw["EvaluationElement"].split(",")),
                outputs=tuple(raw["Output"].split(",")),
                proof=raw.get("Proof", {}).get("proof", ""),
                proof_r=raw.get("Proof", {}).get("r", ""),
            )
            assert len(vector.inputs) == raw["Batch"]
            if mode is Mode.OPRF:
                check_oprf_vector(sk, vector)
            else:
                check_voprf_vector(sk, pk, vector)
            checked += 1
    assert checked == 5  # 2 OPRF + 3 VOPRF vectors, as in Appendix A.1.1 and A.1.2


# ---------------------------------------------------------------------------------------------
# Rejected elements and scalars
# ---------------------------------------------------------------------------------------------
FIELD_PRIME = 2**255 - 19
GROUP_ORDER = 2**252 + 27742317777372353535851937790883648493


@pytest.fixture(scope="module")
def keys() -> tuple[bytes, bytes]:
    return rfc9497.generate_key_pair(Mode.VOPRF)


def blinded_batch(count: int) -> tuple[list[bytes], list[bytes], list[bytes]]:
    """(inputs, blinds, blinded elements) for `count` random inputs, VOPRF mode."""
    inputs = [secrets.token_bytes(16) for _ in range(count)]
    pairs = [rfc9497.blind(private_input, Mode.VOPRF) for private_input in inputs]
    return inputs, [b for b, _ in pairs], [e for _, e in pairs]


def test_identity_element_rejected_with_its_index(keys: tuple[bytes, bytes]) -> None:
    with pytest.raises(InvalidElementError, match="identity") as caught:
        rfc9497.decode_element(bytes(32), index=7)
    assert caught.value.index == 7

    sk, pk = keys
    _, _, blinded = blinded_batch(3)
    blinded[2] = bytes(32)
    with pytest.raises(InvalidElementError) as caught:
        rfc9497.blind_evaluate_batch(sk, pk, blinded)
    assert caught.value.index == 2
    assert str(caught.value).startswith("element 2: ")
    with pytest.raises(InvalidElementError) as caught:
        rfc9497.blind_evaluate(sk, bytes(32))
    assert caught.value.index is None


def test_valid_element_returned_unchanged(keys: tuple[bytes, bytes]) -> None:
    _, pk = keys
    assert rfc9497.decode_element(pk) is pk


def _negated_encoding(element: bytes) -> bytes:
    """The same number with its low ("sign") bit set: ristretto255 encodes only the
    non-negative square root, so the result is never canonical."""
    return bytes([element[0] | 1]) + element[1:]


def _plus_prime(element: bytes) -> bytes:
    """s + p as 32 bytes (when it fits): an unreduced, hence non-canonical, field element."""
    return (int.from_bytes(element, "little") + FIELD_PRIME).to_bytes(32, "little")


@pytest.mark.parametrize(
    "encoding",
    [
        pytest.param(b"\xff" * 32, id="all-ff (>= p, top bit set)"),
        pytest.param(FIELD_PRIME.to_bytes(32, "little"), id="p itself (zero, unreduced)"),
        pytest.param(_plus_prime(bytes.fromhex(VOPRF_PK)), id="valid element plus p"),
        pytest.param(_negated_encoding(bytes.fromhex(VOPRF_PK)), id="sign bit"),
        pytest.param(bytes(31) + b"\x80", id="2**255, the identity plus 19"),
        pytest.param(
            bytes.fromhex(VOPRF_PK)[:31] + bytes([bytes.fromhex(VOPRF_PK)[31] | 0x80]),
            id="valid element with bit 255 set (libsodium ignores that bit)",
        ),
        pytest.param(b"\x01" * 32, id="not a point"),
    ],
)
def test_non_canonical_or_invalid_encoding_rejected(encoding: bytes) -> None:
    with pytest.raises(InvalidElementError) as caught:
        rfc9497.decode_element(encoding, index=0)
    assert caught.value.index == 0


@pytest.mark.parametrize("length", [0, 31, 33, 64])
def test_wrong_length_element_rejected(length: int) -> None:
    with pytest.raises(InvalidElementError, match="32 bytes"):
        rfc9497.decode_element(b"\x02" * length)


def test_random_bytes_that_are_not_points_rejected() -> None:
    rejected = 0
    for _ in range(200):
        candidate = secrets.token_bytes(32)
        if rbcl.crypto_core_ristretto255_is_valid_point(candidate):
            continue  # about 1 in 16 random strings is a canonical encoding
        with pytest.raises(InvalidElementError):
            rfc9497.decode_element(candidate)
        rejected += 1
    assert rejected > 100


@pytest.mark.parametrize(
    "scalar",
    [
        pytest.param(bytes(32), id="zero"),
        pytest.param(GROUP_ORDER.to_bytes(32, "little"), id="the group order"),
        pytest.param(b"\xff" * 32, id="all-ff"),
        pytest.param(b"\x01" * 31, id="31 bytes"),
    ],
)
def test_bad_scalars_rejected(scalar: bytes, keys: tuple[bytes, bytes]) -> None:
    _, pk = keys
    with pytest.raises(InvalidScalarError):
        rfc9497.blind(b"input", Mode.OPRF, scalar)
    with pytest.raises(InvalidScalarError):
        rfc9497.public_key(scalar)
    with pytest.raises(InvalidScalarError):
        rfc9497.blind_evaluate(scalar, pk)
    with pytest.raises(InvalidScalarError):
        rfc9497.finalize(b"input", scalar, pk)


def test_errors_are_value_errors_and_pickle() -> None:
    assert issubclass(OprfError, ValueError)
    for error_class in (InvalidElementError, InvalidScalarError, VerifyError):
        assert issubclass(error_class, OprfError)
    copy = pickle.loads(pickle.dumps(InvalidElementError("is the identity element", 4)))
    assert (copy.index, copy.reason) == (4, "is the identity element")
    assert str(copy) == "element 4: is the identity element"


def test_derive_key_pair_needs_a_32_byte_seed() -> None:
    with pytest.raises(OprfError, match="32 bytes"):
        rfc9497.derive_key_pair(b"short", b"", Mode.VOPRF)


# ---------------------------------------------------------------------------------------------
# Proof verification
# ---------------------------------------------------------------------------------------------
Batch = tuple[list[bytes], list[bytes], list[bytes], list[bytes], bytes]


@pytest.fixture(scope="module")
def batch(keys: tuple[bytes, bytes]) -> Batch:
    """(inputs, blinds, blinded, evaluated, proof) of one honest batch of 5."""
    sk, pk = keys
    inputs, blinds, blinded = blinded_batch(5)
    evaluated, proof = rfc9497.blind_evaluate_batch(sk, pk, blinded)
    return inputs, blinds, blinded, evaluated, proof


def test_honest_batch_verifies(keys: tuple[bytes, bytes], batch: Batch) -> None:
    _, pk = keys
    inputs, blinds, blinded, evaluated, proof = batch
    outputs = rfc9497.verify_and_finalize_batch(pk, inputs, blinds, blinded, evaluated, proof)
    assert len(outputs) == 5
    assert all(len(output) == rfc9497.OUTPUT_SIZE for output in outputs)


@pytest.mark.parametrize("bit", [0, 7, 100, 255, 256, 300, 511])
def test_proof_with_one_flipped_bit_rejected(
    bit: int, keys: tuple[bytes, bytes], batch: Batch
) -> None:
    _, pk = keys
    inputs, blinds, blinded, evaluated, proof = batch
    flipped = bytearray(proof)
    flipped[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(VerifyError):
        rfc9497.verify_and_finalize_batch(pk, inputs, blinds, blinded, evaluated, bytes(flipped))


@pytest.mark.parametrize("proof", [b"", bytes(64), b"\x01" * 63, b"\xff" * 64])
def test_malformed_proof_rejected(proof: bytes, keys: tuple[bytes, bytes], batch: Batch) -> None:
    _, pk = keys
    inputs, blinds, blinded, evaluated, _ = batch
    with pytest.raises(VerifyError):
        rfc9497.verify_and_finalize_batch(pk, inputs, blinds, blinded, evaluated, proof)


def test_another_public_key_rejected(batch: Batch) -> None:
    _, other_pk = rfc9497.generate_key_pair(Mode.VOPRF)
    inputs, blinds, blinded, evaluated, proof = batch
    with pytest.raises(VerifyError):
        rfc9497.verify_and_finalize_batch(other_pk, inputs, blinds, blinded, evaluated, proof)


def test_reordered_evaluated_elements_rejected(keys: tuple[bytes, bytes], batch: Batch) -> None:
    _, pk = keys
    inputs, blinds, blinded, evaluated, proof = batch
    swapped = [evaluated[1], evaluated[0], *evaluated[2:]]
    with pytest.raises(VerifyError):
        rfc9497.verify_and_finalize_batch(pk, inputs, blinds, blinded, swapped, proof)


def test_evaluation_under_another_key_rejected(keys: tuple[bytes, bytes], batch: Batch) -> None:
    """A server that evaluates one element with a different key (to tag a borrower) is caught."""
    _, pk = keys
    other_sk, _ = rfc9497.generate_key_pair(Mode.VOPRF)
    inputs, blinds, blinded, evaluated, proof = batch
    tagged = [*evaluated[:3], rfc9497.blind_evaluate(other_sk, blinded[3]), evaluated[4]]
    with pytest.raises(VerifyError):
        rfc9497.verify_and_finalize_batch(pk, inputs, blinds, blinded, tagged, proof)


def test_bad_evaluated_element_rejected_with_its_index(
    keys: tuple[bytes, bytes], batch: Batch
) -> None:
    _, pk = keys
    inputs, blinds, blinded, evaluated, proof = batch
    broken = [*evaluated[:4], bytes(32)]
    with pytest.raises(InvalidElementError) as caught:
        rfc9497.verify_and_finalize_batch(pk, inputs, blinds, blinded, broken, proof)
    assert caught.value.index == 4


def test_mismatched_batch_lengths_rejected(keys: tuple[bytes, bytes], batch: Batch) -> None:
    _, pk = keys
    inputs, blinds, blinded, evaluated, proof = batch
    with pytest.raises(OprfError, match="differ in number"):
        rfc9497.verify_and_finalize_batch(pk, inputs[:4], blinds, blinded, evaluated, proof)
    with pytest.raises(OprfError, match="empty"):
        rfc9497.verify_and_finalize_batch(pk, [], [], [], [], proof)


def test_server_refuses_a_key_pair_that_does_not_match(keys: tuple[bytes, bytes]) -> None:
    sk, _ = keys
    _, other_pk = rfc9497.generate_key_pair(Mode.VOPRF)
    with pytest.raises(OprfError, match="not the public key"):
        rfc9497.blind_evaluate_batch(sk, other_pk, blinded_batch(1)[2])
    with pytest.raises(OprfError, match="empty"):
        rfc9497.blind_evaluate_batch(sk, rfc9497.public_key(sk), [])


# ---------------------------------------------------------------------------------------------
# Round-trip properties
# ---------------------------------------------------------------------------------------------
def direct_evaluation(sk: bytes, private_input: bytes) -> bytes:
    """Finalize(input, sk * HashToGroup(input)), written out here from RFC 9497 section 3.3.1
    without the package's own Finalize: what the blinded protocol must reproduce."""
    unblinded = rbcl.crypto_scalarmult_ristretto255(
        sk, rfc9497.hash_to_group(private_input, Mode.VOPRF)
    )
    return hashlib.sha512(
        len(private_input).to_bytes(2, "big")
        + private_input
        + len(unblinded).to_bytes(2, "big")
        + unblinded
        + b"Finalize"
    ).digest()


def test_voprf_output_equals_direct_evaluation(keys: tuple[bytes, bytes]) -> None:
    sk, pk = keys
    inputs, blinds, blinded = blinded_batch(20)
    inputs.append(b"")  # the empty input is a valid input too
    blind, element = rfc9497.blind(b"", Mode.VOPRF)
    blinds.append(blind)
    blinded.append(element)
    evaluated, proof = rfc9497.blind_evaluate_batch(sk, pk, blinded)
    outputs = rfc9497.verify_and_finalize_batch(pk, inputs, blinds, blinded, evaluated, proof)
    assert outputs == [direct_evaluation(sk, private_input) for private_input in inputs]
    assert outputs == [rfc9497.evaluate(sk, private_input, Mode.VOPRF) for private_input in inputs]


def test_oprf_output_equals_direct_evaluation() -> None:
    sk, _ = rfc9497.generate_key_pair(Mode.OPRF)
    for _ in range(10):
        private_input = secrets.token_bytes(24)
        blind, blinded = rfc9497.blind(private_input, Mode.OPRF)
        output = rfc9497.finalize(private_input, blind, rfc9497.blind_evaluate(sk, blinded))
        assert output == rfc9497.evaluate(sk, private_input, Mode.OPRF)


def test_outputs_do_not_depend_on_the_blinds(keys: tuple[bytes, bytes]) -> None:
    sk, pk = keys
    inputs = [f"cn_resident_id:{n:018d}".encode() for n in range(8)]

    def run() -> tuple[list[bytes], list[bytes]]:
        pairs = [rfc9497.blind(private_input, Mode.VOPRF) for private_input in inputs]
        blinds, blinded = [b for b, _ in pairs], [e for _, e in pairs]
        evaluated, proof = rfc9497.blind_evaluate_batch(sk, pk, blinded)
        return blinded, rfc9497.verify_and_finalize_batch(
            pk, inputs, blinds, blinded, evaluated, proof
        )

    first_blinded, first = run()
    second_blinded, second = run()
    assert first == second
    assert len(set(first)) == len(inputs)  # and different inputs give different outputs
    assert not set(first_blinded) & set(second_blinded)  # the server saw unlinkable values


def test_modes_and_keys_separate_outputs(keys: tuple[bytes, bytes]) -> None:
    sk, _ = keys
    other_sk, _ = rfc9497.generate_key_pair(Mode.VOPRF)
    value = b"phone:+8613800138000"
    assert rfc9497.evaluate(sk, value, Mode.VOPRF) != rfc9497.evaluate(sk, value, Mode.OPRF)
    assert rfc9497.evaluate(sk, value, Mode.VOPRF) != rfc9497.evaluate(other_sk, value, Mode.VOPRF)
