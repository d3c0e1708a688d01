/* Borrower ID normalisation in the browser, rule for rule as registry_protocol.ids does it for
   the kinds that name a borrower (BORROWER_KINDS): the console's look-up by ID must reach the
   token every lender reaches from the same ID, however it was typed.

   A bad ID throws an IdError whose message names the kind and a fixed reason, never the ID.
   Exposes RegistryCrypto.borrowerIds. */
(function (root) {
  "use strict";

  var KINDS = ["cn_resident_id", "passport", "cn_uscc"];

  function IdError(kind, reason) {
    this.name = "IdError";
    this.kind = kind;
    this.reason = reason;
    this.message = "invalid " + kind + ": " + reason;
  }
  IdError.prototype = Object.create(Error.prototype);
  IdError.prototype.constructor = IdError;

  // Python's str.isspace() set, which its strip() and its regular expressions' \s use (and
  // which differs from JavaScript's trim() in \x1c-\x1f, \x85 and \ufeff).
  var SPACE = "\\t\\n\\x0b\\x0c\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029" +
    "\\u202f\\u205f\\u3000";
  var STRIP = new RegExp("^[" + SPACE + "]+|[" + SPACE + "]+$", "g");
  var ALL_SPACE = new RegExp("[" + SPACE + "]+", "g");

  function strip(value) { return value.replace(STRIP, ""); }

  // Lengths count code points, as Python's len() does (not UTF-16 units).
  function length(value) { return Array.from(value).length; }

  // --- cn_resident_id: GB 11643-1999 ----------------------------------------------------

  var RESIDENT_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  var RESIDENT_CHECK = "10X98765432";
  var MIN_BIRTH_YEAR = 1800;

  function residentCheckDigit(first17) {
    var total = 0;
    for (var i = 0; i < 17; i++) { total += Number(first17[i]) * RESIDENT_WEIGHTS[i]; }
    return RESIDENT_CHECK[total % 11];
  }

  function daysInMonth(year, month) {
    if (month === 2) {
      var leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
      return leap ? 29 : 28;
    }
    return [4, 6, 9, 11].indexOf(month) >= 0 ? 30 : 31;
  }

  function checkBirthDate(yyyymmdd, today) {
    var year = Number(yyyymmdd.slice(0, 4));
    var month = Number(yyyymmdd.slice(4, 6));
    var day = Number(yyyymmdd.slice(6, 8));
    var possible = year >= 1 && month >= 1 && month <= 12 && day >= 1 &&
      day <= daysInMonth(year, month);
    if (!possible || year < MIN_BIRTH_YEAR) {
      throw new IdError("cn_resident_id", "impossible birth date");
    }
    if (yyyymmdd > today.replace(/-/g, "")) {
      throw new IdError("cn_resident_id", "birth date in the future");
    }
  }

  function normalizeResidentId(value, today) {
    value = strip(value).toUpperCase();
    var size = length(value);
    if (size === 15) {
      if (!/^[0-9]+$/.test(value)) { throw new IdError("cn_resident_id", "bad characters"); }
      var first17 = value.slice(0, 6) + "19" + value.slice(6);
      value = first17 + residentCheckDigit(first17);
    } else if (size !== 18) {
      throw new IdError("cn_resident_id", "bad length");
    } else if (!/^[0-9]{17}[0-9X]$/.test(value)) {
      throw new IdError("cn_resident_id", "bad characters");
    }
    if (value[0] === "0") { throw new IdError("cn_resident_id", "bad region code"); }
    // The date before the check digit: a wrong date is the more useful reason to report.
    checkBirthDate(value.slice(6, 14), today);
    if (residentCheckDigit(value.slice(0, 17)) !== value[17]) {
      throw new IdError("cn_resident_id", "bad check digit");
    }
    return value;
  }

  // --- passport: "<ISO 3166-1 alpha-3 country>:<number>" ----------------------------------

  function normalizePassport(value, countries) {
    value = value.replace(ALL_SPACE, "").toUpperCase();
    var colon = value.indexOf(":");
    if (colon < 0) {
      throw new IdError("passport", "must be <ISO 3166-1 alpha-3 country>:<number>");
    }
    var country = value.slice(0, colon);
    var number = value.slice(colon + 1);
    if (countries.indexOf(country) < 0) {
      throw new IdError("passport", "unknown ISO 3166-1 alpha-3 country code");
    }
    if (!/^[A-Z0-9]+$/.test(number)) {
      throw new IdError("passport", "bad characters in the number (A-Z, 0-9 only)");
    }
    if (number.length < 5 || number.length > 20) {
      throw new IdError("passport", "bad number length (5 to 20 characters)");
    }
    return country + ":" + number;
  }

  // --- cn_uscc: GB 32100-2015 -------------------------------------------------------------

  var USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY";
  var USCC_WEIGHTS = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];

  function normalizeUscc(value) {
    value = strip(value).toUpperCase();
    if (length(value) !== 18) { throw new IdError("cn_uscc", "bad length"); }
    for (var i = 0; i < 18; i++) {
      if (USCC_ALPHABET.indexOf(value[i]) < 0) { throw new IdError("cn_uscc", "bad characters"); }
    }
    var total = 0;
    for (var j = 0; j < 17; j++) { total += USCC_ALPHABET.indexOf(value[j]) * USCC_WEIGHTS[j]; }
    if (USCC_ALPHABET[(31 - (total % 31)) % 31] !== value[17]) {
      throw new IdError("cn_uscc", "bad check character");
    }
    return value;
  }

  function localToday() {
    var now = new Date();
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    return now.getFullYear() + "-" + pad(now.getMonth() + 1) + "-" + pad(now.getDate());
  }

  /* The canonical form of an ID of `kind`. options.countries: the ISO 3166-1 alpha-3 codes
     (the page carries registry_protocol's list); options.today: "YYYY-MM-DD", bounding birth
     dates (default: the browser's local date, as a lender's date.today()). */
  function normalizeId(kind, value, options) {
    options = options || {};
    if (typeof value !== "string") { throw new IdError(kind, "the value must be a string"); }
    if (kind === "cn_resident_id") { return normalizeResidentId(value, options.today || localToday()); }
    if (kind === "passport") { return normalizePassport(value, options.countries || []); }
    if (kind === "cn_uscc") { return normalizeUscc(value); }
    // The kind is not echoed: arguments passed the wrong way round would put the ID here.
    throw new IdError("<unknown kind>", "the kind must be one of " + KINDS.join(", "));
  }

  root.RegistryCrypto = root.RegistryCrypto || {};
  root.RegistryCrypto.borrowerIds = {
    KINDS: KINDS,
    IdError: IdError,
    normalizeId: normalizeId
  };
})(typeof globalThis !== "undefined" ? globalThis : this);
