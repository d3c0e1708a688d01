"""The console's look-up JavaScript (registry/console/static/console/) under node: its
ristretto255 against libsodium, its VOPRF client against RFC 9497's vectors, its ID rules
against registry_protocol.ids, and whole tokens against the lender SDK's.

Node is on CI's machine: without it these tests skip, or fail when REGISTRY_REQUIRE_NODE=1
(as .ci/run sets it), like the tests that read ../shared."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import rbcl

import rfc9497
from lender_client.cache import MemoryPinStore
from lender_client.pepper import Pepper
from lender_client.tokens import Tokenizer
from registry_protocol.ids import BORROWER_KINDS, ISO_3166_ALPHA3, InvalidIdError, normalize_id
from registry_protocol.pepper import inner_token_input, pepper_fingerprint
from rfc9497.group import random_scalar
from rfc9497.suite import GROUP_ORDER

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "registry" / "console" / "static" / "console"
DRIVER = Path(__file__).with_name("js_driver.js")
P = 2**255 - 19
TODAY = date(2025, 6, 1)
COUNTRIES = sorted(ISO_3166_ALPHA3)
PEPPER = bytes.fromhex("5e" * 16 + "a1" * 16)
KEY_ID = "k-test"
SK, PK = rfc9497.derive_key_pair(b"\x42" * 32, b"js tests", rfc9497.Mode.VOPRF)


def require_node() -> str:
    node = shutil.which("node")
    if node is None:
        if os.environ.get("REGISTRY_REQUIRE_NODE") == "1":
            pytest.fail("REGISTRY_REQUIRE_NODE=1 but node is not installed", pytrace=False)
        pytest.skip("the console's JavaScript is tested under node, which is not installed")
    return node


def run_js(cases: list[dict[str, Any]]) -> list[Any]:
    """Each case through tests/crypto/js_driver.js; the results in order."""
    done = subprocess.run(
        [require_node(), str(DRIVER), str(STATIC)],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    results: list[Any] = json.loads(done.stdout)
    assert len(results) == len(cases)
    return results


def le(value: int) -> str:
    return value.to_bytes(32, "little").hex()


def test_the_curve_constants_are_what_rfc_9496_defines() -> None:
    [got] = run_js([{"op": "constants"}])
    c = {name: int(value) for name, value in got.items()}
    d = c["D"]
    assert d == -121665 * pow(121666, -1, P) % P
    assert c["SQRT_M1"] ** 2 % P == P - 1
    assert c["SQRT_AD_MINUS_ONE"] ** 2 % P == (-d - 1) % P  # a = -1
    assert c["INVSQRT_A_MINUS_D"] ** 2 * (-1 - d) % P == 1
    assert c["ONE_MINUS_D_SQ"] == (1 - d * d) % P
    assert c["D_MINUS_ONE_SQ"] == (d - 1) ** 2 % P


def test_group_and_scalar_arithmetic_match_libsodium() -> None:
    rng = random.Random(9497)
    scalars = [1, 2, GROUP_ORDER - 1, *(rng.randrange(1, GROUP_ORDER) for _ in range(6))]
    points = [rbcl.crypto_core_ristretto255_random() for _ in range(4)]
    uniform = [rng.randbytes(64) for _ in range(8)] + [bytes(64), b"\xff" * 64]
    wide = [rng.randbytes(64) for _ in range(4)] + [b"\xff" * 64]
    cases: list[dict[str, Any]] = []
    expected: list[Any] = []
    for k in scalars:
        cases.append({"op": "mul_base", "scalar": le(k)})
        expected.append(rbcl.crypto_scalarmult_ristretto255_base(k.to_bytes(32, "little")).hex())
        point = points[k % len(points)]
        cases.append({"op": "mul", "scalar": le(k), "element": point.hex()})
        expected.append(rbcl.crypto_scalarmult_ristretto255(k.to_bytes(32, "little"), point).hex())
        cases.append({"op": "scalar_invert", "scalar": le(k)})
        expected.append(le(pow(k, -1, GROUP_ORDER)))
        cases.append({"op": "scalar_mul", "a": le(k), "b": le(scalars[0] + 7)})
        expected.append(le(k * 8 % GROUP_ORDER))
    for a, b in zip(points, points[1:] + points[:1], strict=True):
        cases.append({"op": "add", "a": a.hex(), "b": b.hex()})
        expected.append(rbcl.crypto_core_ristretto255_add(a, b).hex())
    cases.append({"op": "add", "a": points[0].hex(), "b": points[0].hex()})  # doubling
    expected.append(rbcl.crypto_core_ristretto255_add(points[0], points[0]).hex())
    for raw in uniform:
        cases.append({"op": "from_uniform", "bytes": raw.hex()})
        expected.append(rbcl.crypto_core_ristretto255_from_hash(raw).hex())
    for raw in wide:
        cases.append({"op": "scalar_reduce", "bytes": raw.hex()})
        expected.append(le(int.from_bytes(raw, "little") % GROUP_ORDER))
    assert run_js(cases) == expected


def test_decoding_accepts_exactly_the_canonical_encodings() -> None:
    rng = random.Random(9496)
    valid = [rbcl.crypto_core_ristretto255_random() for _ in range(4)]
    candidates = [
        *valid,
        bytes(32),  # the identity: a valid encoding (the protocol refuses it elsewhere)
        (P).to_bytes(32, "little"),  # s = p: not canonical
        (P + 2).to_bytes(32, "little"),
        (1).to_bytes(32, "little"),  # negative (odd) s
        bytes(valid[0][:31]) + bytes([valid[0][31] | 0x80]),  # the ignored top bit set
        b"\xff" * 32,
        *(rng.randbytes(32) for _ in range(24)),
    ]
    results = run_js([{"op": "decode", "element": raw.hex()} for raw in candidates])
    for raw, result in zip(candidates, results, strict=True):
        canonical = not raw[31] & 0x80 and (
            raw == bytes(32) or rbcl.crypto_core_ristretto255_is_valid_point(raw)
        )
        assert result == (raw.hex() if canonical else None), raw.hex()
    assert all(results[: len(valid)]) and results.count(None) >= 6


def _ristretto_vectors(vectors: list[dict[str, Any]], mode: int) -> dict[str, Any]:
    [suite] = [v for v in vectors if v["identifier"] == "ristretto255-SHA512" and v["mode"] == mode]
    return suite


def test_the_rfc_9497_vectors(rfc9497_vectors: list[dict[str, Any]]) -> None:
    """Every ristretto255-SHA512 vector of the RFC (OPRF and VOPRF modes): blinding, the
    batched proof, finalisation; a changed proof or element does not verify."""
    cases: list[dict[str, Any]] = []
    expected: list[Any] = []
    for mode in (0, 1):
        suite = _ristretto_vectors(rfc9497_vectors, mode)
        for vector in suite["vectors"]:
            inputs = vector["Input"].split(",")
            blinds = vector["Blind"].split(",")
            blinded = vector["BlindedElement"].split(",")
            evaluated = vector["EvaluationElement"].split(",")
            outputs = vector["Output"].split(",")
            for x, r, b, e, out in zip(inputs, blinds, blinded, evaluated, outputs, strict=True):
                cases.append({"op": "blind", "input": x, "mode": mode, "blind": r})
                expected.append(b)
                cases.append({"op": "finalize", "input": x, "blind": r, "evaluated": e})
                expected.append(out)
            if mode == 1:
                pk, proof = suite["pkSm"], vector["Proof"]["proof"]
                check = {"op": "verify", "pk": pk, "blinded": blinded, "evaluated": evaluated}
                cases.append(check | {"proof": proof})
                expected.append(True)
                bent = proof[:-2] + f"{int(proof[-2:], 16) ^ 1:02x}"
                cases.append(check | {"proof": bent})
                expected.append(False)
                other = check | {"evaluated": [blinded[0], *evaluated[1:]], "proof": proof}
                cases.append(other)
                expected.append(False)
                cases.append(check | {"pk": blinded[0], "proof": proof})
                expected.append(False)
                cases.append(
                    {
                        "op": "finalize_verified",
                        "pk": pk,
                        "input": inputs[0],
                        "blind": blinds[0],
                        "blinded": blinded[0],
                        "evaluated": evaluated[0],
                        "proof": bent,
                    }
                )
                expected.append(
                    {"error": "VerifyError", "message": "the evaluation proof does not verify"}
                )
    assert len(cases) > 20
    assert run_js(cases) == expected


def test_hash_to_group_and_random_blinds_match_the_python_package() -> None:
    rng = random.Random(3)
    inputs = [b"", b"\x00", rng.randbytes(32), rng.randbytes(200)]
    cases = [{"op": "hash_to_group", "input": x.hex(), "mode": 1} for x in inputs]
    cases += [{"op": "random_blind", "input": x.hex(), "mode": 1} for x in inputs]
    results = run_js(cases)
    hashed, blinded = results[: len(inputs)], results[len(inputs) :]
    for x, got in zip(inputs, hashed, strict=True):
        assert got == rfc9497.hash_to_group(x, rfc9497.Mode.VOPRF).hex()
    for x, got in zip(inputs, blinded, strict=True):
        scalar = bytes.fromhex(got["blind"])
        assert 0 < int.from_bytes(scalar, "little") < GROUP_ORDER
        assert got["blinded"] == rfc9497.blind(x, rfc9497.Mode.VOPRF, scalar)[1].hex()
    assert len({got["blind"] for got in blinded}) == len(inputs)  # a fresh blind each time


# IDs as operators type them, valid and not: case, spaces, the 15-digit form, bad check
# digits and dates, Unicode look-alikes and spaces Python and JavaScript trim differently.
ID_CASES = [
    ("cn_resident_id", "11010519491231002X"),
    ("cn_resident_id", " 11010519491231002x "),
    ("cn_resident_id", "440524188001010014"),
    ("cn_resident_id", "110105491231002"),  # 15 digits: born 1949
    ("cn_resident_id", "11010519491231002\u0131"),  # dotless i: not an X
    ("cn_resident_id", "110105194912310021"),  # bad check digit
    ("cn_resident_id", "010105194912310023"),
    ("cn_resident_id", "110105194902300021"),  # 30 February
    ("cn_resident_id", "110105200002290027"),  # 29 February of a leap year
    ("cn_resident_id", "110105190002290024"),  # 1900 was not one
    ("cn_resident_id", "110105179912310021"),
    ("cn_resident_id", "110105202506020023"),  # tomorrow
    ("cn_resident_id", "110105202506010029"),  # today
    ("cn_resident_id", "11010519491231002"),
    ("cn_resident_id", "11010519491231002Y"),
    ("cn_resident_id", "1101051949123100\uff12X"),  # a full-width digit
    ("cn_resident_id", "\u300011010519491231002X\x1c"),
    ("cn_resident_id", "\ufeff11010519491231002X"),
    ("passport", "CHN:E12345678"),
    ("passport", " chn : e1234 5678\t"),
    ("passport", "GBR:123456789"),
    ("passport", "E12345678"),
    ("passport", "XKX:E12345678"),
    ("passport", "CHN:E1234"),
    ("passport", "CHN:E123-45678"),
    ("passport", "CHN:" + "9" * 21),
    ("passport", "deu:c01x00t47"),
    ("passport", "CHN:E1234:5678"),
    ("passport", "chn:stra\u00dfe1"),  # sharp s upper-cases to SS in both languages
    ("cn_uscc", "91350100M000100Y43"),
    ("cn_uscc", " 91350100m000100y43 "),
    ("cn_uscc", "91350100M000100Y44"),
    ("cn_uscc", "91350100M000100Y4"),
    ("cn_uscc", "91350100I000100Y43"),
    ("cn_uscc", "91350100M000100Y4\U0001d7d1"),
    ("phone", "+8613800138000"),  # not a borrower kind
]


def _python_normal_form(kind: str, value: str) -> Any:
    if kind not in BORROWER_KINDS:  # the console looks up borrowers only
        message = f"invalid <unknown kind>: the kind must be one of {', '.join(BORROWER_KINDS)}"
        return {"error": "IdError", "message": message}
    try:
        return normalize_id(kind, value, today=TODAY)
    except InvalidIdError as exc:
        return {"error": "IdError", "message": str(exc)}


def test_id_normalisation_matches_the_protocol_package() -> None:
    cases = [
        {"op": "normalize", "kind": kind, "value": value, "countries": COUNTRIES}
        | {"today": TODAY.isoformat()}
        for kind, value in ID_CASES
    ]
    results = run_js(cases)
    for (kind, value), got in zip(ID_CASES, results, strict=True):
        assert got == _python_normal_form(kind, value), (kind, value)
    assert sum(isinstance(got, str) for got in results) >= 10  # valid ones among them


def test_python_whitespace_is_stripped_as_python_strips_it() -> None:
    spaces = [chr(c) for c in range(0x3001) if chr(c).isspace()] + ["\ufeff", "\u200b"]
    uscc = "91350100M000100Y43"
    cases = [
        {"op": "normalize", "kind": "cn_uscc", "value": f"{c}{uscc}{c}", "today": "2025-01-01"}
        for c in spaces
    ]
    for c, got in zip(spaces, run_js(cases), strict=True):
        assert got == _python_normal_form("cn_uscc", f"{c}{uscc}{c}"), hex(ord(c))


def _answer(key_id: str, evaluated: list[bytes], proof: bytes) -> dict[str, Any]:
    """The registry's evaluation answer, as JSON."""
    return {
        "key_id": key_id,
        "evaluated_elements": [e.hex() for e in evaluated],
        "proof": proof.hex(),
    }


def _sdk_tokens(ids: list[tuple[str, str]]) -> list[str]:
    """The tokens lender_client's Tokenizer makes, against a stand-in registry with SK."""

    def fetch_key() -> dict[str, Any]:
        return {
            "suite": rfc9497.SUITE_ID,
            "mode": "voprf",
            "key_id": KEY_ID,
            "public_key": PK.hex(),
            "pepper_fingerprint": pepper_fingerprint(PEPPER),
            "rotation": None,
        }

    def evaluate(blinded: list[str], key_id: str) -> dict[str, Any]:
        elements = [bytes.fromhex(b) for b in blinded]
        evaluated, proof = rfc9497.blind_evaluate_batch(SK, PK, elements)
        return _answer(key_id, evaluated, proof)

    tokenizer = Tokenizer(
        fetch_key, evaluate, Pepper(PEPPER), pins=MemoryPinStore(), trust_new_keys=True
    )
    return [pair.borrower for pair in tokenizer.tokenize(ids)]


def _token_case(kind: str, value: str, **changes: Any) -> dict[str, Any]:
    """A `token` case: the registry's answer made beforehand for a blind chosen here."""
    blind = random_scalar()
    inner = inner_token_input(PEPPER, kind, normalize_id(kind, value))
    _, blinded = rfc9497.blind(inner, rfc9497.Mode.VOPRF, blind)
    [evaluated], proof = rfc9497.blind_evaluate_batch(SK, PK, [blinded])
    case = {
        "op": "token",
        "kind": kind,
        "value": value,
        "pepper": PEPPER.hex(),
        "key_id": KEY_ID,
        "public_key": PK.hex(),
        "fingerprint": pepper_fingerprint(PEPPER),
        "countries": COUNTRIES,
        "blind": blind.hex(),
        "expected_blinded": blinded.hex(),
        "answer": _answer(KEY_ID, [evaluated], proof),
    }
    return case | changes


TOKEN_IDS = [
    ("cn_resident_id", "11010519491231002x"),
    ("cn_resident_id", "440524188001010014"),
    ("cn_resident_id", "110105491231002"),
    ("passport", "chn:E12345678"),
    ("passport", "GBR : 123456789"),
    ("passport", "USA:C03005988"),
    ("cn_uscc", "91350100M000100Y43"),
    ("cn_uscc", "91110000600037341L"),
]


def test_tokens_are_the_sdks_tokens() -> None:
    expected = _sdk_tokens(TOKEN_IDS)
    cases = [_token_case(kind, value) for kind, value in TOKEN_IDS]
    cases += [
        {"op": "inner", "pepper": PEPPER.hex(), "kind": kind, "canonical": canonical}
        for kind, canonical in ((k, normalize_id(k, v)) for k, v in TOKEN_IDS)
    ]
    cases.append({"op": "fingerprint", "pepper": PEPPER.hex()})
    results = run_js(cases)
    count = len(TOKEN_IDS)
    assert results[:count] == expected
    assert len(set(expected)) == len({normalize_id(k, v) for k, v in TOKEN_IDS})
    assert results[count : 2 * count] == [
        inner_token_input(PEPPER, kind, normalize_id(kind, value)).hex()
        for kind, value in TOKEN_IDS
    ]
    assert results[-1] == pepper_fingerprint(PEPPER)


def test_no_token_without_a_proof_under_the_published_key() -> None:
    kind, value = TOKEN_IDS[0]
    good = _token_case(kind, value)
    answer = good["answer"]
    other_sk, other_pk = rfc9497.derive_key_pair(b"\x07" * 32, b"", rfc9497.Mode.VOPRF)
    blinded = bytes.fromhex(good["expected_blinded"])
    [forged], forged_proof = rfc9497.blind_evaluate_batch(other_sk, other_pk, [blinded])
    proof = answer["proof"]
    bent = ("0" if proof[0] != "0" else "1") + proof[1:]
    cases = [
        good,
        good | {"answer": answer | {"proof": bent}},
        good | {"answer": answer | {"key_id": "k-other"}},
        good | {"answer": answer | {"evaluated_elements": [forged.hex()]}},
        good | {"answer": _answer(KEY_ID, [forged], forged_proof)},
        good | {"answer": answer | {"evaluated_elements": ["ff" * 32]}},
        good | {"answer": answer | {"evaluated_elements": []}},
        good | {"public_key": other_pk.hex()},
        good | {"fingerprint": "0123456789abcdef"},
        good | {"pepper": "12" * 31},
        good | {"value": value[:-1] + "3"},
    ]
    results = run_js(cases)
    assert results[0] == _sdk_tokens([(kind, value)])[0]
    for got in results[1:8]:
        assert isinstance(got, dict) and got["error"] == "VerifyError", got
    assert results[8]["error"] == "LookupError" and "fingerprint" in results[8]["message"]
    assert results[9]["error"] == "LookupError" and "64 hexadecimal" in results[9]["message"]
    assert results[10] == {
        "error": "LookupError",
        "message": "invalid cn_resident_id: bad check digit",
    }
