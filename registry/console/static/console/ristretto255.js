/* ristretto255 (RFC 9496) and its scalars, in BigInt arithmetic, for the console's look-up by
   ID: the browser blinds, checks the registry's proof and unblinds by itself, so that neither
   the ID nor the consortium pepper ever leaves it.

   Field elements are BigInts in [0, p); points are extended twisted Edwards coordinates
   {X, Y, Z, T} of curve25519's Edwards form (a = -1), x = X/Z, y = Y/Z, x*y = T/Z. Scalars
   are BigInts in [0, l). Encodings are 32-byte little-endian Uint8Arrays.

   BigInt arithmetic is not constant time. The secret scalars here (a blind used once, for one
   look-up) are only ever multiplied inside the operator's own browser, where the registry
   cannot time them.
   Exposes RegistryCrypto.ristretto255. */
(function (root) {
  "use strict";

  var P = (1n << 255n) - 19n;
  // The group order l = 2^252 + 27742317777372353535851937790883648493 (RFC 9496 section 4.1).
  var L = (1n << 252n) + 27742317777372353535851937790883648493n;

  // The constants of RFC 9496 section 4.1 (each checked against its definition by the tests).
  var D = 37095705934669439343138083508754565189542113879843219016388785533085940283555n;
  var SQRT_M1 = 19681161376707505956807079304988542015446066515923890162744021073123829784752n;
  var SQRT_AD_MINUS_ONE =
    25063068953384623474111414158702152701244531502492656460079210482610430750235n;
  var INVSQRT_A_MINUS_D =
    54469307008909316920995813868745141605393597292927456921205312896311721017578n;
  var ONE_MINUS_D_SQ =
    1159843021668779879193775521855586647937357759715417654439879720876111806838n;
  var D_MINUS_ONE_SQ =
    40440834346308536858101042469323190826248399146238708352240133220865137265952n;
  var D2 = (2n * D) % P;

  // --- the field GF(2^255 - 19) ----------------------------------------------------------

  function mod(a) {
    var r = a % P;
    return r < 0n ? r + P : r;
  }

  function powMod(base, exponent, modulus) {
    var result = 1n;
    base %= modulus;
    while (exponent > 0n) {
      if (exponent & 1n) { result = (result * base) % modulus; }
      base = (base * base) % modulus;
      exponent >>= 1n;
    }
    return result;
  }

  function isNegative(a) {
    // RFC 9496 section 4.2: the least significant bit of the canonical encoding.
    return (mod(a) & 1n) === 1n;
  }

  function abs(a) {
    return isNegative(a) ? mod(-a) : mod(a);
  }

  function invert(a) {
    return powMod(mod(a), P - 2n, P);
  }

  // SQRT_RATIO_M1 of RFC 9496 section 4.2: [u/v is a square, the non-negative root of u/v or
  // of SQRT_M1 * u/v].
  function sqrtRatioM1(u, v) {
    u = mod(u);
    v = mod(v);
    var v3 = mod(v * v * v);
    var v7 = mod(v3 * v3 * v);
    var r = mod(mod(u * v3) * powMod(mod(u * v7), (P - 5n) / 8n, P));
    var check = mod(v * r * r);
    var correctSign = check === u;
    var flippedSign = check === mod(-u);
    var flippedSignI = check === mod(-u * SQRT_M1);
    if (flippedSign || flippedSignI) { r = mod(r * SQRT_M1); }
    return { wasSquare: correctSign || flippedSign, root: abs(r) };
  }

  // --- byte strings ----------------------------------------------------------------------

  function bytesToNumberLE(bytes) {
    var n = 0n;
    for (var i = bytes.length - 1; i >= 0; i--) { n = (n << 8n) | BigInt(bytes[i]); }
    return n;
  }

  function numberToBytesLE(n, length) {
    var out = new Uint8Array(length);
    for (var i = 0; i < length; i++) {
      out[i] = Number(n & 0xffn);
      n >>= 8n;
    }
    return out;
  }

  // --- points ----------------------------------------------------------------------------

  var IDENTITY = Object.freeze({ X: 0n, Y: 1n, Z: 1n, T: 0n });

  // Addition on the a = -1 twisted Edwards curve (Hisil, Wong, Carter, Dawson 2008, "add-2008-
  // hwcd-3"): complete, since d is not a square, so it also doubles and adds the identity.
  function add(p1, p2) {
    var a = mod((p1.Y - p1.X) * (p2.Y - p2.X));
    var b = mod((p1.Y + p1.X) * (p2.Y + p2.X));
    var c = mod(p1.T * D2 * p2.T);
    var d = mod(p1.Z * 2n * p2.Z);
    var e = b - a, f = d - c, g = d + c, h = b + a;
    return { X: mod(e * f), Y: mod(g * h), Z: mod(f * g), T: mod(e * h) };
  }

  function negate(point) {
    return { X: mod(-point.X), Y: point.Y, Z: point.Z, T: mod(-point.T) };
  }

  // RFC 9496 section 4.3.3: equality of the elements two representatives stand for.
  function equals(p1, p2) {
    return mod(p1.X * p2.Y) === mod(p1.Y * p2.X) || mod(p1.Y * p2.Y) === mod(p1.X * p2.X);
  }

  function isIdentity(point) {
    return equals(point, IDENTITY);
  }

  // scalar * point, by double-and-add from the top bit.
  function multiply(scalar, point) {
    var k = ((scalar % L) + L) % L;
    var result = IDENTITY;
    for (var bit = BigInt(k.toString(2).length - 1); bit >= 0n; bit--) {
      result = add(result, result);
      if ((k >> bit) & 1n) { result = add(result, point); }
    }
    return result;
  }

  // RFC 9496 section 4.3.1: null for any string that is not the canonical encoding of an
  // element (wrong length, s >= p, s negative, or not on the group).
  function decode(bytes) {
    if (!(bytes instanceof Uint8Array) || bytes.length !== 32) { return null; }
    var s = bytesToNumberLE(bytes);
    if (s >= P || isNegative(s)) { return null; }
    var ss = mod(s * s);
    var u1 = mod(1n - ss);
    var u2 = mod(1n + ss);
    var u2Sqr = mod(u2 * u2);
    var v = mod(-(D * mod(u1 * u1)) - u2Sqr);
    var inv = sqrtRatioM1(1n, mod(v * u2Sqr));
    var denX = mod(inv.root * u2);
    var denY = mod(inv.root * denX * v);
    var x = abs(2n * s * denX);
    var y = mod(u1 * denY);
    var t = mod(x * y);
    if (!inv.wasSquare || isNegative(t) || y === 0n) { return null; }
    return { X: x, Y: y, Z: 1n, T: t };
  }

  // RFC 9496 section 4.3.2: the canonical 32-byte encoding.
  function encode(point) {
    var u1 = mod((point.Z + point.Y) * (point.Z - point.Y));
    var u2 = mod(point.X * point.Y);
    var inv = sqrtRatioM1(1n, mod(u1 * u2 * u2));
    var den1 = mod(inv.root * u1);
    var den2 = mod(inv.root * u2);
    var zInv = mod(den1 * den2 * point.T);
    var rotate = isNegative(point.T * zInv);
    var x = rotate ? mod(point.Y * SQRT_M1) : point.X;
    var y = rotate ? mod(point.X * SQRT_M1) : point.Y;
    var denInv = rotate ? mod(den1 * INVSQRT_A_MINUS_D) : den2;
    if (isNegative(x * zInv)) { y = mod(-y); }
    return numberToBytesLE(abs(denInv * (point.Z - y)), 32);
  }

  // The MAP of RFC 9496 section 4.3.4, from a field element to a point.
  function map(t) {
    var r = mod(SQRT_M1 * t * t);
    var u = mod((r + 1n) * ONE_MINUS_D_SQ);
    var v = mod((-1n - r * D) * (r + D));
    var sqrt = sqrtRatioM1(u, v);
    var s = sqrt.root;
    var c = mod(-1n);
    if (!sqrt.wasSquare) {
      s = mod(-abs(s * t));
      c = r;
    }
    var n = mod(c * (r - 1n) * D_MINUS_ONE_SQ - v);
    var w0 = mod(2n * s * v);
    var w1 = mod(n * SQRT_AD_MINUS_ONE);
    var w2 = mod(1n - s * s);
    var w3 = mod(1n + s * s);
    return { X: mod(w0 * w3), Y: mod(w2 * w1), Z: mod(w1 * w3), T: mod(w0 * w2) };
  }

  // RFC 9496 section 4.3.4, the one-way map from 64 uniform bytes to an element: each half,
  // its top bit masked, is a field element mapped to a point; the element is their sum.
  function fromUniformBytes(bytes) {
    if (!(bytes instanceof Uint8Array) || bytes.length !== 64) {
      throw new Error("the one-way map takes 64 bytes");
    }
    var mask = (1n << 255n) - 1n;
    var r0 = mod(bytesToNumberLE(bytes.subarray(0, 32)) & mask);
    var r1 = mod(bytesToNumberLE(bytes.subarray(32, 64)) & mask);
    return add(map(r0), map(r1));
  }

  // The generator: the ristretto255 encoding of Ed25519's base point (RFC 9496 section 4.4).
  var BASE = decode(new Uint8Array([
    0xe2, 0xf2, 0xae, 0x0a, 0x6a, 0xbc, 0x4e, 0x71, 0xa8, 0x84, 0xa9, 0x61, 0xc5, 0x00, 0x51, 0x5f,
    0x58, 0xe3, 0x0b, 0x6a, 0xa5, 0x82, 0xdd, 0x8d, 0xb6, 0xa6, 0x59, 0x45, 0xe0, 0x8d, 0x2d, 0x76
  ]));

  function multiplyBase(scalar) {
    return multiply(scalar, BASE);
  }

  // --- scalars modulo l ------------------------------------------------------------------

  var scalar = {
    ORDER: L,
    // A little-endian string of any length, reduced modulo l (HashToScalar reads 64 bytes).
    reduce: function (bytes) { return bytesToNumberLE(bytes) % L; },
    // A 32-byte encoding, or null when it is not in [0, l) (RFC 9497 DeserializeScalar).
    decode: function (bytes) {
      if (!(bytes instanceof Uint8Array) || bytes.length !== 32) { return null; }
      var n = bytesToNumberLE(bytes);
      return n < L ? n : null;
    },
    encode: function (n) { return numberToBytesLE(((n % L) + L) % L, 32); },
    multiply: function (a, b) { return (a * b) % L; },
    invert: function (a) {
      if (a % L === 0n) { throw new Error("zero has no inverse"); }
      return powMod(((a % L) + L) % L, L - 2n, L);
    }
  };

  var api = {
    P: P,
    L: L,
    constants: {
      D: D,
      SQRT_M1: SQRT_M1,
      SQRT_AD_MINUS_ONE: SQRT_AD_MINUS_ONE,
      INVSQRT_A_MINUS_D: INVSQRT_A_MINUS_D,
      ONE_MINUS_D_SQ: ONE_MINUS_D_SQ,
      D_MINUS_ONE_SQ: D_MINUS_ONE_SQ
    },
    IDENTITY: IDENTITY,
    BASE: BASE,
    add: add,
    negate: negate,
    equals: equals,
    isIdentity: isIdentity,
    multiply: multiply,
    multiplyBase: multiplyBase,
    decode: decode,
    encode: encode,
    fromUniformBytes: fromUniformBytes,
    scalar: scalar,
    bytesToNumberLE: bytesToNumberLE,
    numberToBytesLE: numberToBytesLE
  };

  root.RegistryCrypto = root.RegistryCrypto || {};
  root.RegistryCrypto.ristretto255 = api;
})(typeof globalThis !== "undefined" ? globalThis : this);
