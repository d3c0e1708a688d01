"""Borrower ID normalisation (registry_protocol.ids): resident IDs (GB 11643-1999), phones
(E.164), passports and unified social credit codes (GB 32100-2015)."""

from __future__ import annotations

import pickle
from datetime import date

import pytest

from registry_protocol.ids import (
    ID_KINDS,
    ISO_3166_ALPHA3,
    InvalidIdError,
    normalize_id,
    token_input,
)

TODAY = date(2026, 11, 25)
VALID_RESIDENT_IDS = ["11010519491231002X", "440524188001010014"]
# GB 32100-2015 check characters verified by hand (weights 3**i mod 31), the first widely
# published as valid.
VALID_USCCS = ["91350100M000100Y43", "91110000802100433B"]
RESIDENT_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]


def resident_id(first_17: str) -> str:
    """`first_17` with its correct GB 11643 check digit, computed independently of the module."""
    total = sum(int(d) * w for d, w in zip(first_17, RESIDENT_WEIGHTS, strict=True))
    return first_17 + "10X98765432"[total % 11]


def fullwidth(digits: str) -> str:
    """The same digits in their full-width forms (U+FF10...), common in CJK text."""
    return "".join(chr(0xFF10 + int(digit)) for digit in digits)


def arabic_indic(digits: str) -> str:
    return "".join(chr(0x0660 + int(digit)) for digit in digits)


def rejection(kind: str, value: str) -> InvalidIdError:
    with pytest.raises(InvalidIdError) as caught:
        normalize_id(kind, value, today=TODAY)
    assert caught.value.kind == kind
    return caught.value


# --- cn_resident_id -------------------------------------------------------------------------


@pytest.mark.parametrize("value", VALID_RESIDENT_IDS)
def test_known_valid_resident_ids_accepted(value: str) -> None:
    assert normalize_id("cn_resident_id", value, today=TODAY) == value
    assert normalize_id("cn_resident_id", f"  {value}\t\n", today=TODAY) == value


def test_weights_match_iso_7064_mod_11_2() -> None:
    assert [pow(2, 17 - i, 11) for i in range(17)] == RESIDENT_WEIGHTS


@pytest.mark.parametrize("value", VALID_RESIDENT_IDS)
def test_every_single_character_change_rejected(value: str) -> None:
    """MOD 11-2 catches every single substitution; some give an impossible date first."""
    accepted = []
    for position in range(18):
        for character in "0123456789X":
            if character == value[position]:
                continue
            changed = value[:position] + character + value[position + 1 :]
            try:
                normalize_id("cn_resident_id", changed, today=TODAY)
            except InvalidIdError:
                continue
            accepted.append(changed)
    assert accepted == []


def test_lower_case_x_accepted_and_upper_cased() -> None:
    assert normalize_id("cn_resident_id", "11010519491231002x", today=TODAY) == (
        "11010519491231002X"
    )


@pytest.mark.parametrize(
    ("first_17", "reason"),
    [
        ("11010519490230002", "impossible birth date"),  # 30 February
        ("11010519491301002", "impossible birth date"),  # month 13
        ("11010519490001002", "impossible birth date"),  # month 0
        ("11010519490100002", "impossible birth date"),  # day 0
        ("11010519490431002", "impossible birth date"),  # 31 April
        ("11010519010229002", "impossible birth date"),  # 1901 is no leap year
        ("11010517991231002", "impossible birth date"),  # before 1800
        ("11010520261126002", "birth date in the future"),  # the day after TODAY
        ("11010521000101002", "birth date in the future"),
    ],
)
def test_bad_birth_dates_rejected_even_with_a_right_check_digit(first_17: str, reason: str) -> None:
    assert rejection("cn_resident_id", resident_id(first_17)).reason == reason


def test_leap_day_and_today_accepted() -> None:
    for first_17 in ("11010520000229002", "11010520261125002"):  # 2000 is a leap year
        value = resident_id(first_17)
        assert normalize_id("cn_resident_id", value, today=TODAY) == value


def test_future_depends_on_today() -> None:
    value = resident_id("11010520261126002")
    assert normalize_id("cn_resident_id", value, today=date(2026, 11, 26)) == value
    # Without `today`, the real clock decides: a date in 2099 is in the future.
    with pytest.raises(InvalidIdError, match="future"):
        normalize_id("cn_resident_id", resident_id("11010520990101002"))


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "bad length"),
        ("11010519491231002", "bad length"),
        ("11010519491231002X1", "bad length"),
        ("1101051949123100XX", "bad characters"),
        ("X1010519491231002X", "bad characters"),
        ("11010519491231002Y", "bad characters"),
        ("11010519491231002 X", "bad length"),
        (fullwidth("11010519491231002") + "X", "bad characters"),
        # Arabic-Indic digits, for which str.isdigit() is True
        (arabic_indic("11010519491231002") + "X", "bad characters"),
        ("11010519491231002\u2169", "bad characters"),  # ROMAN NUMERAL TEN, not X
        ("11010519491231003X", "bad check digit"),
        ("110105194912310021", "bad check digit"),
        (resident_id("01010519491231002"), "bad region code"),
    ],
)
def test_malformed_resident_ids_rejected(value: str, reason: str) -> None:
    assert rejection("cn_resident_id", value).reason == reason


@pytest.mark.parametrize(
    ("legacy", "canonical"),
    [
        ("110105491231002", "11010519491231002X"),
        ("440524800101001", resident_id("44052419800101001")),
        (" 130503670401001 ", resident_id("13050319670401001")),
    ],
)
def test_fifteen_digit_ids_converted_to_eighteen(legacy: str, canonical: str) -> None:
    assert normalize_id("cn_resident_id", legacy, today=TODAY) == canonical


@pytest.mark.parametrize(
    ("legacy", "reason"),
    [
        ("11010549123100X", "bad characters"),
        ("110105490230002", "impossible birth date"),
        ("010105491231002", "bad region code"),
    ],
)
def test_bad_fifteen_digit_ids_rejected(legacy: str, reason: str) -> None:
    assert rejection("cn_resident_id", legacy).reason == reason


# --- phone ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "canonical"),
    [
        ("+8613800138000", "+8613800138000"),
        ("+86 138 0013 8000", "+8613800138000"),
        ("13800138000", "+8613800138000"),
        ("138-0013-8000", "+8613800138000"),
        ("(138) 0013.8000", "+8613800138000"),
        ("8613800138000", "+8613800138000"),
        ("008613800138000", "+8613800138000"),
        ("0086 138 0013 8000", "+8613800138000"),
        ("19912345678", "+8619912345678"),
        ("+1 (415) 555-2671", "+14155552671"),
        ("+44 20 7946 0958", "+442079460958"),
        ("+85291234567", "+85291234567"),
        (" +49 30 901820 ", "+4930901820"),
        ("+123456789012345", "+123456789012345"),  # 15 digits, the E.164 maximum
    ],
)
def test_phones_normalised_to_e164(value: str, canonical: str) -> None:
    assert normalize_id("phone", value) == canonical


@pytest.mark.parametrize(
    ("value", "reason_part"),
    [
        ("4155552671", "E.164 needs a country code"),  # 10 digits, no +
        ("12800138000", "E.164 needs a country code"),  # 1 then 2: not a Chinese mobile
        ("23800138000", "E.164 needs a country code"),
        ("0013800138000", "E.164 needs a country code"),  # 00 without 86
        ("02079460958", "E.164 needs a country code"),  # a national trunk prefix
        ("861380013800", "E.164 needs a country code"),  # 86 + only 10 digits
        ("", "E.164 needs a country code"),
        ("+", "bad characters"),
        ("+86 138 0013 800a", "bad characters"),
        ("+86/13800138000", "bad characters"),
        ("+" + fullwidth("86") + "13800138000", "bad characters"),
        ("+1234567", "bad length"),  # 7 digits
        ("+1234567890123456", "bad length"),  # 16 digits
        ("+0861380013800", "bad country code"),
    ],
)
def test_bad_phones_rejected(value: str, reason_part: str) -> None:
    assert reason_part in rejection("phone", value).reason


# --- passport -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "canonical"),
    [
        ("CHN:E12345678", "CHN:E12345678"),
        ("chn:e12345678", "CHN:E12345678"),
        (" USA : 123 456 789 ", "USA:123456789"),
        ("DEU:C01X00T47", "DEU:C01X00T47"),
        ("GBR:12345", "GBR:12345"),
        ("FRA:" + "A" * 20, "FRA:" + "A" * 20),
    ],
)
def test_passports_normalised(value: str, canonical: str) -> None:
    assert normalize_id("passport", value) == canonical


@pytest.mark.parametrize(
    ("value", "reason_part"),
    [
        ("E12345678", "must be <ISO 3166-1 alpha-3 country>:<number>"),
        ("XXX:E12345678", "unknown ISO 3166-1 alpha-3 country code"),
        ("CN:E12345678", "unknown ISO 3166-1 alpha-3 country code"),  # alpha-2
        ("D:C01X00T47", "unknown ISO 3166-1 alpha-3 country code"),  # ICAO-only code
        ("XKX:P01234567", "unknown ISO 3166-1 alpha-3 country code"),  # user-assigned
        ("CHN:E123", "bad number length"),  # 4 characters
        ("CHN:" + "1" * 21, "bad number length"),
        ("CHN:", "bad characters"),
        ("CHN:E123-45678", "bad characters"),
        ("CHN:E1234567<", "bad characters"),
        ("CHN:E12345:678", "bad characters"),
        ("CHN:É12345678", "bad characters"),
    ],
)
def test_bad_passports_rejected(value: str, reason_part: str) -> None:
    assert reason_part in rejection("passport", value).reason


def test_country_list_is_the_assigned_alpha3_codes() -> None:
    assert len(ISO_3166_ALPHA3) == 249
    assert {"CHN", "HKG", "MAC", "TWN", "USA", "DEU", "SSD", "BES", "CUW", "SXM"} <= (
        ISO_3166_ALPHA3
    )
    assert all(len(code) == 3 and code.isalpha() and code.isupper() for code in ISO_3166_ALPHA3)


# --- cn_uscc --------------------------------------------------------------------------------


@pytest.mark.parametrize("value", VALID_USCCS)
def test_valid_usccs_accepted(value: str) -> None:
    assert normalize_id("cn_uscc", value) == value
    assert normalize_id("cn_uscc", f" {value.lower()} ") == value


def test_uscc_weights_are_powers_of_three() -> None:
    weights = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28]
    assert weights == [pow(3, i, 31) for i in range(17)]


@pytest.mark.parametrize("value", VALID_USCCS)
def test_every_single_uscc_character_change_rejected(value: str) -> None:
    """The MOD 31 check catches every single substitution within the alphabet."""
    alphabet = "0123456789ABCDEFGHJKLMNPQRTUWXY"
    for position in range(18):
        for character in alphabet.replace(value[position], ""):
            changed = value[:position] + character + value[position + 1 :]
            assert rejection("cn_uscc", changed).reason == "bad check character", changed


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("91350100M000100Y4", "bad length"),
        ("91350100M000100Y433", "bad length"),
        ("91350100M000100I43", "bad characters"),  # I, O, Z, S, V are not in the alphabet
        ("91350100M000100O43", "bad characters"),
        ("91350100M000100Z43", "bad characters"),
        ("91350100M000100S43", "bad characters"),
        ("91350100M000100V43", "bad characters"),
        ("91350100M000100Y4-", "bad characters"),
    ],
)
def test_malformed_usccs_rejected(value: str, reason: str) -> None:
    assert rejection("cn_uscc", value).reason == reason


# --- errors and kinds -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("cn_resident_id", "11010519491231003X"),
        ("cn_resident_id", "11010519490230002X"),
        ("cn_resident_id", "1101051949"),
        ("phone", "13800138"),
        ("phone", "+86 138 0013 800a"),
        ("passport", "ZZZ:E12345678"),
        ("passport", "CHN:E1"),
        ("cn_uscc", "91350100M000100Y44"),
    ],
)
def test_errors_never_contain_the_value(kind: str, value: str) -> None:
    error = rejection(kind, value)
    compact = value.strip().replace(" ", "")
    for text in (str(error), repr(error), str(error.args), str(pickle.loads(pickle.dumps(error)))):
        assert value not in text
        assert compact not in text
        assert compact[:8] not in text
    assert kind in str(error)
    assert error.reason in str(error)


def test_error_is_a_value_error_that_pickles() -> None:
    error = rejection("phone", "13800138")
    assert isinstance(error, ValueError)
    copy = pickle.loads(pickle.dumps(error))
    assert (copy.kind, copy.reason, str(copy)) == (error.kind, error.reason, str(error))


@pytest.mark.parametrize("kind", ["email", "", "PHONE", "11010519491231002X"])
def test_unknown_kind_rejected_without_echoing_it(kind: str) -> None:
    with pytest.raises(InvalidIdError, match="must be one of") as caught:
        normalize_id(kind, "13800138000")
    if kind:
        assert kind not in str(caught.value)
        assert kind not in repr(caught.value)
    with pytest.raises(InvalidIdError):
        token_input(kind, "13800138000")


def test_token_input_is_kind_colon_value() -> None:
    assert ID_KINDS == ("cn_resident_id", "phone", "passport", "cn_uscc")
    canonical = normalize_id("cn_resident_id", "11010519491231002x", today=TODAY)
    assert token_input("cn_resident_id", canonical) == b"cn_resident_id:11010519491231002X"
    assert token_input("passport", "CHN:E12345678") == b"passport:CHN:E12345678"
    # Equal strings of different kinds give different inputs.
    assert token_input("phone", "x") != token_input("passport", "x")
