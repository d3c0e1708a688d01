/* The client side of RFC 9497's VOPRF for ristretto255-SHA512, as rfc9497/ does it in Python:
   HashToGroup, Blind, VerifyProof (the batched DLEQ proof of section 2.2.3) and Finalize.
   SHA-512 comes from WebCrypto (crypto.subtle), the group from ristretto255.js.

   Byte strings are Uint8Arrays, scalars BigInts, elements points of RegistryCrypto.ristretto255.
   Exposes RegistryCrypto.voprf. */
(function (root) {
  "use strict";

  var group = root.RegistryCrypto.ristretto255;
  var ELEMENT_SIZE = 32;
  var SCALAR_SIZE = 32;
  var SUITE_ID = "ristretto255-SHA512";
  var MODE_OPRF = 0;
  var MODE_VOPRF = 1;
  var encoder = new TextEncoder();

  function VerifyError(message) {
    this.name = "VerifyError";
    this.message = message;
  }
  VerifyError.prototype = Object.create(Error.prototype);
  VerifyError.prototype.constructor = VerifyError;

  function concat() {
    var total = 0, i;
    for (i = 0; i < arguments.length; i++) { total += arguments[i].length; }
    var out = new Uint8Array(total);
    var offset = 0;
    for (i = 0; i < arguments.length; i++) {
      out.set(arguments[i], offset);
      offset += arguments[i].length;
    }
    return out;
  }

  // RFC 8017 I2OSP: big-endian, `length` bytes.
  function i2osp(value, length) {
    if (value < 0 || value >= Math.pow(256, length)) {
      throw new Error(value + " does not fit in " + length + " byte(s)");
    }
    var out = new Uint8Array(length);
    for (var i = length - 1; i >= 0; i--) {
      out[i] = value & 0xff;
      value = Math.floor(value / 256);
    }
    return out;
  }

  function ascii(text) { return encoder.encode(text); }

  async function sha512(data) {
    return new Uint8Array(await root.crypto.subtle.digest("SHA-512", data));
  }

  // The domain-separation strings of a mode (RFC 9497 section 3.1 and 4.1).
  function context(mode) {
    var contextString = concat(ascii("OPRFV1-"), i2osp(mode, 1), ascii("-" + SUITE_ID));
    return {
      hashToGroupDst: concat(ascii("HashToGroup-"), contextString),
      hashToScalarDst: concat(ascii("HashToScalar-"), contextString),
      seedDst: concat(ascii("Seed-"), contextString)
    };
  }

  // RFC 9380 section 5.3.1, expand_message_xmd with SHA-512 (b_in_bytes 64, s_in_bytes 128).
  async function expandMessageXmd(msg, dst, length) {
    var ell = Math.ceil(length / 64);
    if (ell > 255 || length > 65535 || dst.length > 255) {
      throw new Error("expand_message_xmd: output or DST too long");
    }
    var dstPrime = concat(dst, i2osp(dst.length, 1));
    var b0 = await sha512(concat(new Uint8Array(128), msg, i2osp(length, 2), new Uint8Array(1),
      dstPrime));
    var bi = await sha512(concat(b0, i2osp(1, 1), dstPrime));
    var blocks = [bi];
    for (var i = 2; i <= ell; i++) {
      var chained = new Uint8Array(64);
      for (var j = 0; j < 64; j++) { chained[j] = b0[j] ^ bi[j]; }
      bi = await sha512(concat(chained, i2osp(i, 1), dstPrime));
      blocks.push(bi);
    }
    return concat.apply(null, blocks).subarray(0, length);
  }

  // RFC 9497 section 4.1, HashToGroup: 64 uniform bytes through the one-way map.
  async function hashToGroup(input, mode) {
    if (input.length > 0xffff) { throw new Error("private input longer than 65535 bytes"); }
    var element = group.fromUniformBytes(
      await expandMessageXmd(input, context(mode).hashToGroupDst, 64));
    if (group.isIdentity(element)) {
      throw new Error("InvalidInputError: the input hashes to the identity element");
    }
    return element;
  }

  // RFC 9497 section 4.1, HashToScalar.
  async function hashToScalar(msg, dst) {
    return group.scalar.reduce(await expandMessageXmd(msg, dst, 64));
  }

  // A uniform scalar in [1, l - 1]: 64 random bytes reduced modulo l (bias below 2^-250).
  function randomScalar() {
    for (;;) {
      var bytes = new Uint8Array(64);
      root.crypto.getRandomValues(bytes);
      var value = group.scalar.reduce(bytes);
      if (value !== 0n) { return value; }
    }
  }

  /* RFC 9497 section 3.3.1, Blind: {blind, blindedElement (32 bytes)}. The blind is random
     unless given (test vectors only). */
  async function blind(input, mode, blindScalar) {
    var scalar = blindScalar === undefined ? randomScalar() : blindScalar;
    if (scalar <= 0n || scalar >= group.L) { throw new Error("the blind must be in [1, l - 1]"); }
    var element = group.multiply(scalar, await hashToGroup(input, mode));
    return { blind: scalar, blindedElement: group.encode(element) };
  }

  // RFC 9497 section 2.1, DeserializeElement: a canonical encoding, not the identity.
  function decodeElement(bytes, what) {
    var point = group.decode(bytes);
    if (point === null || group.isIdentity(point)) {
      throw new VerifyError(what + " is not a valid ristretto255 element");
    }
    return point;
  }

  var ELEMENT_PREFIX = i2osp(ELEMENT_SIZE, 2);

  // RFC 9497 section 2.2.1, ComputeComposites (the verifier's: it does not know k).
  async function computeComposites(pk, blinded, evaluated, ctx) {
    var seed = await sha512(concat(ELEMENT_PREFIX, pk, i2osp(ctx.seedDst.length, 2), ctx.seedDst));
    var seedPrefix = concat(i2osp(seed.length, 2), seed);
    var m = group.IDENTITY, z = group.IDENTITY;
    for (var i = 0; i < blinded.length; i++) {
      var transcript = concat(seedPrefix, i2osp(i, 2), ELEMENT_PREFIX, blinded[i], ELEMENT_PREFIX,
        evaluated[i], ascii("Composite"));
      var weight = await hashToScalar(transcript, ctx.hashToScalarDst);
      m = group.add(m, group.multiply(weight, decodeElement(blinded[i], "a blinded element")));
      z = group.add(z, group.multiply(weight, decodeElement(evaluated[i], "an evaluated element")));
    }
    return { m: m, z: z };
  }

  async function challenge(elements, ctx) {
    var parts = [];
    elements.forEach(function (element) { parts.push(ELEMENT_PREFIX, element); });
    parts.push(ascii("Challenge"));
    return hashToScalar(concat.apply(null, parts), ctx.hashToScalarDst);
  }

  /* RFC 9497 section 2.2.3, VerifyProof with A = G: whether `proof` (c || s, 64 bytes) shows
     that every evaluated element is the blinded one times the key behind `pk`. False for a
     malformed proof (a scalar outside [1, l - 1], as rfc9497.dleq refuses) as for a wrong one;
     VerifyError for an element that does not decode. */
  async function verifyProof(pk, blinded, evaluated, proof) {
    if (!(proof instanceof Uint8Array) || proof.length !== 2 * SCALAR_SIZE) { return false; }
    if (blinded.length === 0 || blinded.length !== evaluated.length) { return false; }
    var c = group.scalar.decode(proof.subarray(0, SCALAR_SIZE));
    var s = group.scalar.decode(proof.subarray(SCALAR_SIZE));
    if (c === null || s === null || c === 0n || s === 0n) { return false; }
    var ctx = context(MODE_VOPRF);
    var pkPoint = decodeElement(pk, "the public key");
    var composites = await computeComposites(pk, blinded, evaluated, ctx);
    if (group.isIdentity(composites.m) || group.isIdentity(composites.z)) { return false; }
    var t2 = group.add(group.multiplyBase(s), group.multiply(c, pkPoint));
    var t3 = group.add(group.multiply(s, composites.m), group.multiply(c, composites.z));
    var expected = await challenge([pk, group.encode(composites.m), group.encode(composites.z),
      group.encode(t2), group.encode(t3)], ctx);
    return expected === c;
  }

  /* RFC 9497 section 3.3.1 Finalize: the 64-byte output of `input` from its evaluated
     element, unblinded with 1/blind. Only after the proof verified (finalizeVerified). */
  async function finalize(input, blindScalar, evaluatedElement) {
    var point = decodeElement(evaluatedElement, "the evaluated element");
    var unblinded = group.encode(group.multiply(group.scalar.invert(blindScalar), point));
    return sha512(concat(i2osp(input.length, 2), input, ELEMENT_PREFIX, unblinded,
      ascii("Finalize")));
  }

  /* RFC 9497 section 3.3.2, Finalize in VOPRF mode for one input: the proof first, and no
     output at all (VerifyError) when it does not verify against `pk`. */
  async function finalizeVerified(pk, input, blindScalar, blindedElement, evaluatedElement,
    proof) {
    if (!(await verifyProof(pk, [blindedElement], [evaluatedElement], proof))) {
      throw new VerifyError("the evaluation proof does not verify");
    }
    return finalize(input, blindScalar, evaluatedElement);
  }

  root.RegistryCrypto.voprf = {
    MODE_OPRF: MODE_OPRF,
    MODE_VOPRF: MODE_VOPRF,
    VerifyError: VerifyError,
    i2osp: i2osp,
    concat: concat,
    context: context,
    expandMessageXmd: expandMessageXmd,
    hashToGroup: hashToGroup,
    hashToScalar: hashToScalar,
    randomScalar: randomScalar,
    blind: blind,
    verifyProof: verifyProof,
    finalize: finalize,
    finalizeVerified: finalizeVerified
  };
})(typeof globalThis !== "undefined" ? globalThis : this);
