"""Borrower ID normalisation: one canonical string per person or company, so that every lender
derives the same token from the same ID however it was typed.

>>> normalize_id("cn_resident_id", " 11010519491231002x ")
'11010519491231002X'
>>> normalize_id("phone", "138 0013 8000")
'+8613800138000'
>>> token_input("phone", "+8613800138000")
b'phone:+8613800138000'

An ID is personal data: an :class:`InvalidIdError` names the kind and the reason, never the
value, in its message, ``str()`` and ``repr()``. Standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date

__all__ = [
    "BORROWER_KINDS",
    "ID_KINDS",
    "ISO_3166_ALPHA3",
    "InvalidIdError",
    "normalize_id",
    "token_input",
]

ID_KINDS = ("cn_resident_id", "phone", "passport", "cn_uscc")
# The kinds that name a borrower (a person or an entity). A phone number is only a secondary
# identifier: numbers are recycled and shared, so it never names the borrower of a loan.
BORROWER_KINDS = ("cn_resident_id", "passport", "cn_uscc")


class InvalidIdError(ValueError):
    """An ID that cannot be normalised. `kind` is the ID kind, `reason` a short fixed phrase
    ("bad check digit", ...); neither ever contains the ID itself."""

    kind: str
    reason: str

    def __init__(self, kind: str, reason: str) -> None:
        # args holds only kind and reason: the default repr() and pickling show nothing else.
        super().__init__(kind, reason)
        self.kind = kind
        self.reason = reason

    def __str__(self) -> str:
        return f"invalid {self.kind}: {self.reason}"


# --- cn_resident_id: GB 11643-1999 citizen identity number ----------------------------------

# ISO 7064 MOD 11-2 weights, 2**(17 - i) mod 11 for positions i = 0..16, and the check
# character for each remainder of the weighted sum.
_RESIDENT_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_RESIDENT_CHECK = "10X98765432"
# The standard's own worked example, 440524188001010014, was born in 1880: the floor only
# catches typing errors, it does not judge who is alive.
_MIN_BIRTH_YEAR = 1800
_RESIDENT_18 = re.compile(r"[0-9]{17}[0-9X]")
_DIGITS = re.compile(r"[0-9]+")  # not \d, which also matches non-ASCII digits


def _resident_check_digit(first_17: str) -> str:
    total = sum(
        int(digit) * weight for digit, weight in zip(first_17, _RESIDENT_WEIGHTS, strict=True)
    )
    return _RESIDENT_CHECK[total % 11]


def complete_resident_id(first_17: str) -> str:
    """The 18-digit resident ID whose first 17 digits are given: for test and demo data."""
    if len(first_17) != 17 or not _DIGITS.fullmatch(first_17):
        raise InvalidIdError("cn_resident_id", "need exactly 17 digits")
    return first_17 + _resident_check_digit(first_17)


def _check_birth_date(yyyymmdd: str, today: date | None) -> None:
    try:
        born = date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:]))
    except ValueError:
        raise InvalidIdError("cn_resident_id", "impossible birth date") from None
    if born.year < _MIN_BIRTH_YEAR:
        raise InvalidIdError("cn_resident_id", "impossible birth date")
    if born > (today or date.today()):
        raise InvalidIdError("cn_resident_id", "birth date in the future")


def _normalize_resident_id(value: str, today: date | None = None) -> str:
    """GB 11643-1999: 6-digit region, YYYYMMDD birth date, 3-digit sequence, check digit.
    A 15-digit ID of the first generation (YYMMDD, born 19YY, no check digit) is converted
    to its 18-digit form, which is the canonical one."""
    value = value.strip().upper()
    if len(value) == 15:
        if not _DIGITS.fullmatch(value):
            raise InvalidIdError("cn_resident_id", "bad characters")
        first_17 = value[:6] + "19" + value[6:]
        value = first_17 + _resident_check_digit(first_17)
    elif len(value) != 18:
        raise InvalidIdError("cn_resident_id", "bad length")
    elif not _RESIDENT_18.fullmatch(value):
        raise InvalidIdError("cn_resident_id", "bad characters")
    if value[0] == "0":
        raise InvalidIdError("cn_resident_id", "bad region code")
    # The date before the check digit: a wrong date is the more useful reason to report.
    _check_birth_date(value[6:14], today)
    if _resident_check_digit(value[:17]) != value[17]:
        raise InvalidIdError("cn_resident_id", "bad check digit")
    return value


# --- phone: E.164 -----------------------------------------------------------------------------

_PHONE_SEPARATORS = re.compile(r"[\s\-.()]")
_CN_MOBILE = re.compile(r"(?:(?:00)?86)?(1[3-9][0-9]{9})")


def _normalize_phone(value: str, today: date | None = None) -> str:
    """E.164: "+", a country code and the number, 8 to 15 digits, no separators. A Chinese
    mobile number (11 digits, 1[3-9]...) may come without "+86", or with "86" or "0086"."""
    value = _PHONE_SEPARATORS.sub("", value)
    if not value.startswith("+"):
        mobile = _CN_MOBILE.fullmatch(value)
        if mobile is None:
            raise InvalidIdError("phone", "E.164 needs a country code: start with +")
        return "+86" + mobile.group(1)
    digits = value[1:]
    if not _DIGITS.fullmatch(digits):
        raise InvalidIdError("phone", "bad characters")
    if not 8 <= len(digits) <= 15:
        raise InvalidIdError("phone", "bad length (E.164 has 8 to 15 digits)")
    if digits[0] == "0":
        raise InvalidIdError("phone", "bad country code")
    return value


# --- passport: ISO 3166-1 alpha-3 country and number -----------------------------------------

# Every officially assigned ISO 3166-1 alpha-3 code (249). Not the ICAO-only codes of machine
# readable passports (D, GBD, UNO, XXA, ...) nor user-assigned ones (XKX).
ISO_3166_ALPHA3 = frozenset(
    """
    ABW AFG AGO AIA ALA ALB AND ARE ARG ARM ASM ATA ATF ATG AUS AUT AZE
    BDI BEL BEN BES BFA BGD BGR BHR BHS BIH BLM BLR BLZ BMU BOL BRA BRB BRN BTN BVT BWA
    CAF CAN CCK CHE CHL CHN CIV CMR COD COG COK COL COM CPV CRI CUB CUW CXR CYM CYP CZE
    DEU DJI DMA DNK DOM DZA
    ECU EGY ERI ESH ESP EST ETH
    FIN FJI FLK FRA FRO FSM
    GAB GBR GEO GGY GHA GIB GIN GLP GMB GNB GNQ GRC GRD GRL GTM GUF GUM GUY
    HKG HMD HND HRV HTI HUN
    IDN IMN IND IOT IRL IRN IRQ ISL ISR ITA
    JAM JEY JOR JPN
    KAZ KEN KGZ KHM KIR KNA KOR KWT
    LAO LBN LBR LBY LCA LIE LKA LSO LTU LUX LVA
    MAC MAF MAR MCO MDA MDG MDV MEX MHL MKD MLI MLT MMR MNE MNG MNP MOZ MRT MSR MTQ MUS MWI
    MYS MYT
    NAM NCL NER NFK NGA NIC NIU NLD NOR NPL NRU NZL
    OMN
    PAK PAN PCN PER PHL PLW PNG POL PRI PRK PRT PRY PSE PYF
    QAT
    REU ROU RUS RWA
    SAU SDN SEN SGP SGS SHN SJM SLB SLE SLV SMR SOM SPM SRB SSD STP SUR SVK SVN SWE SWZ SXM
    SYC SYR
    TCA TCD TGO THA TJK TKL TKM TLS TON TTO TUN TUR TUV TWN TZA
    UGA UKR UMI URY USA UZB
    VAT VCT VEN VGB VIR VNM VUT
    WLF WSM
    YEM
    ZAF ZMB ZWE
    """.split()  # noqa: SIM905 (a table reads better than 249 quoted strings)
)
_PASSPORT_NUMBER = re.compile(r"[A-Z0-9]+")
_WHITESPACE = re.compile(r"\s+")


def _normalize_passport(value: str, today: date | None = None) -> str:
    """ "<ISO 3166-1 alpha-3 issuing country>:<number>", upper case, no whitespace: a passport
    number is unique only within its issuing country."""
    value = _WHITESPACE.sub("", value).upper()
    country, separator, number = value.partition(":")
    if not separator:
        raise InvalidIdError("passport", "must be <ISO 3166-1 alpha-3 country>:<number>")
    if country not in ISO_3166_ALPHA3:
        raise InvalidIdError("passport", "unknown ISO 3166-1 alpha-3 country code")
    if not _PASSPORT_NUMBER.fullmatch(number):
        raise InvalidIdError("passport", "bad characters in the number (A-Z, 0-9 only)")
    if not 5 <= len(number) <= 20:
        raise InvalidIdError("passport", "bad number length (5 to 20 characters)")
    return f"{country}:{number}"


# --- cn_uscc: GB 32100-2015 unified social credit code ----------------------------------------

# The 31 characters of the code (no I, O, Z, S, V), each worth its index, and the weights
# 3**i mod 31 of positions i = 0..16.
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_VALUES = {character: index for index, character in enumerate(_USCC_ALPHABET)}
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def _uscc_check_character(first_17: str) -> str:
    total = sum(_USCC_VALUES[c] * weight for c, weight in zip(first_17, _USCC_WEIGHTS, strict=True))
    return _USCC_ALPHABET[(31 - total % 31) % 31]


def _normalize_uscc(value: str, today: date | None = None) -> str:
    """GB 32100-2015: 18 characters of the code's alphabet, the last a check character."""
    value = value.strip().upper()
    if len(value) != 18:
        raise InvalidIdError("cn_uscc", "bad length")
    if any(character not in _USCC_VALUES for character in value):
        raise InvalidIdError("cn_uscc", "bad characters")
    if _uscc_check_character(value[:17]) != value[17]:
        raise InvalidIdError("cn_uscc", "bad check character")
    return value


_NORMALIZERS: dict[str, Callable[[str, date | None], str]] = {
    "cn_resident_id": _normalize_resident_id,
    "phone": _normalize_phone,
    "passport": _normalize_passport,
    "cn_uscc": _normalize_uscc,
}


def normalize_id(kind: str, value: str, *, today: date | None = None) -> str:
    """The canonical form of an ID of `kind` (one of ID_KINDS), or InvalidIdError.
    `today` (default: date.today()) bounds resident ID birth dates; tests set it."""
    normalizer = _NORMALIZERS.get(kind) if isinstance(kind, str) else None
    if normalizer is None:
        # The kind is not echoed: arguments passed the wrong way round would put the ID here.
        raise InvalidIdError("<unknown kind>", f"the kind must be one of {', '.join(ID_KINDS)}")
    if not isinstance(value, str):
        raise InvalidIdError(kind, "the value must be a string")
    return normalizer(value, today)


def token_input(kind: str, canonical_value: str) -> bytes:
    """The OPRF input of an ID: UTF-8 of "<kind>:<canonical value>", the kind keeping equal
    strings of different kinds apart. `canonical_value` must come from normalize_id."""
    if kind not in ID_KINDS:
        raise InvalidIdError("<unknown kind>", f"the kind must be one of {', '.join(ID_KINDS)}")
    return f"{kind}:{canonical_value}".encode()
