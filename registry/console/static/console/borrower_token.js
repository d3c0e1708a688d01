/* A borrower's token from an ID, made in the browser exactly as a lender's SDK makes it
   (lender_client/tokens.py): normalise (borrower_ids.js), HMAC-SHA256 under the consortium
   pepper (registry_protocol.pepper, with WebCrypto), blind, have the registry evaluate the
   blinded element, verify its proof against the published key, unblind, and keep the first
   32 bytes of the output as 64 lowercase hex.

   Only the blinded element (a uniformly random group element) goes to the registry: never
   the ID, its normal form, the pepper or the HMAC.
   Exposes RegistryCrypto.borrowerToken. */
(function (root) {
  "use strict";

  var crypto = root.RegistryCrypto;
  var voprf = crypto.voprf;
  var PEPPER_SIZE = 32;
  var FINGERPRINT_LENGTH = 16;
  var FINGERPRINT_LABEL = "lender-client pepper fingerprint v1";
  var encoder = new TextEncoder();

  // An error the operator can act on; `field` names the form field it is about.
  function LookupError(field, message) {
    this.name = "LookupError";
    this.field = field;
    this.message = message;
  }
  LookupError.prototype = Object.create(Error.prototype);
  LookupError.prototype.constructor = LookupError;

  function toHex(bytes) {
    var out = "";
    for (var i = 0; i < bytes.length; i++) { out += (bytes[i] < 16 ? "0" : "") + bytes[i].toString(16); }
    return out;
  }

  // Exactly 2 * size hexadecimal characters, else null.
  function fromHex(text, size) {
    if (typeof text !== "string" || text.length !== 2 * size || !/^[0-9a-fA-F]*$/.test(text)) {
      return null;
    }
    var out = new Uint8Array(size);
    for (var i = 0; i < size; i++) { out[i] = parseInt(text.substr(2 * i, 2), 16); }
    return out;
  }

  // The pepper as the SDK reads it: 64 hexadecimal characters, surrounding white space aside.
  function parsePepper(text) {
    var pepper = fromHex(String(text).trim(), PEPPER_SIZE);
    if (pepper === null) {
      throw new LookupError("pepper", "The pepper must be 64 hexadecimal characters (32 bytes).");
    }
    return pepper;
  }

  // registry_protocol.pepper.pepper_mac: HMAC-SHA256 of `message` under the pepper.
  async function pepperMac(pepper, message) {
    var key = await root.crypto.subtle.importKey(
      "raw", pepper, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    return new Uint8Array(await root.crypto.subtle.sign("HMAC", key, message));
  }

  // registry_protocol.ids.token_input: UTF-8 of "<kind>:<canonical value>".
  function tokenInput(kind, canonical) {
    return encoder.encode(kind + ":" + canonical);
  }

  async function innerTokenInput(pepper, kind, canonical) {
    return pepperMac(pepper, tokenInput(kind, canonical));
  }

  async function pepperFingerprint(pepper) {
    var mac = await pepperMac(pepper, encoder.encode(FINGERPRINT_LABEL));
    return toHex(mac).slice(0, FINGERPRINT_LENGTH);
  }

  /* The token of one ID. `request`:
       kind, value, pepper (hex text): what the operator typed;
       keyId, publicKey (hex): the key the registry publishes;
       fingerprint: the published pepper fingerprint (null: not recorded, not checked);
       countries, today: for normalisation (borrower_ids.js);
       evaluate(blindedHex, keyId): a promise of the registry's answer
         {key_id, evaluated_elements: [hex], proof: hex};
       blind (BigInt, tests only): the blinding scalar, random otherwise.
     Resolves to the 64-hex token; rejects with a LookupError (bad input, a pepper that does
     not match the published fingerprint) or a VerifyError (an answer that is not a proven
     evaluation under the published key), before any token exists. */
  async function computeToken(request) {
    var canonical;
    try {
      canonical = crypto.borrowerIds.normalizeId(request.kind, request.value, {
        countries: request.countries,
        today: request.today
      });
    } catch (error) {
      if (error instanceof crypto.borrowerIds.IdError) {
        throw new LookupError("id_value", error.message);
      }
      throw error;
    }
    var pepper = parsePepper(request.pepper);
    if (request.fingerprint && (await pepperFingerprint(pepper)) !== request.fingerprint) {
      throw new LookupError("pepper",
        "This is not the consortium's current pepper: its fingerprint does not match the one " +
        "the registry publishes (" + request.fingerprint + ").");
    }
    var publicKey = fromHex(request.publicKey, 32);
    if (publicKey === null) { throw new voprf.VerifyError("the published key is malformed"); }
    var input = await innerTokenInput(pepper, request.kind, canonical);
    var blinded = await voprf.blind(input, voprf.MODE_VOPRF, request.blind);
    var answer = await request.evaluate(toHex(blinded.blindedElement), request.keyId);
    if (!answer || answer.key_id !== request.keyId) {
      throw new voprf.VerifyError("the registry answered under another key than the published one");
    }
    var elements = answer.evaluated_elements;
    var evaluated = Array.isArray(elements) && elements.length === 1 ? fromHex(elements[0], 32) : null;
    var proof = fromHex(answer.proof, 64);
    if (evaluated === null || proof === null) {
      throw new voprf.VerifyError("the registry's answer is malformed");
    }
    var output = await voprf.finalizeVerified(
      publicKey, input, blinded.blind, blinded.blindedElement, evaluated, proof);
    return toHex(output.subarray(0, 32));
  }

  crypto.borrowerToken = {
    LookupError: LookupError,
    toHex: toHex,
    fromHex: fromHex,
    parsePepper: parsePepper,
    pepperMac: pepperMac,
    tokenInput: tokenInput,
    innerTokenInput: innerTokenInput,
    pepperFingerprint: pepperFingerprint,
    computeToken: computeToken
  };
})(typeof globalThis !== "undefined" ? globalThis : this);
