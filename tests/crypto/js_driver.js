/* Runs the console's look-up JavaScript under node for tests/crypto/test_js_voprf.py.

   argv[2]: the folder of the console's static scripts. stdin: a JSON list of cases
   {"op": ..., ...}; stdout: a JSON list of results, one per case, in order. Bytes travel as
   hex, scalars as little-endian hex (their RFC encoding); a thrown error becomes
   {"error": name, "message": ...}. */
"use strict";

const path = require("path");

// WebCrypto is global from node 19; node 18 (Debian's) has it as crypto.webcrypto.
if (!globalThis.crypto || !globalThis.crypto.subtle) {
  Object.defineProperty(globalThis, "crypto", { value: require("crypto").webcrypto });
}

const folder = process.argv[2];
for (const name of ["ristretto255.js", "borrower_ids.js", "voprf.js", "borrower_token.js"]) {
  require(path.join(folder, name));
}
const { ristretto255: group, voprf, borrowerIds, borrowerToken } = globalThis.RegistryCrypto;
const { toHex } = borrowerToken;

function bytes(hex) {
  return Uint8Array.from(Buffer.from(hex, "hex"));
}

function scalar(hex) {
  return group.bytesToNumberLE(bytes(hex));
}

function element(hex) {
  const point = group.decode(bytes(hex));
  if (point === null) { throw new Error("test input is not an element"); }
  return point;
}

const ops = {
  constants: () => Object.fromEntries(
    Object.entries(group.constants).map(([name, value]) => [name, value.toString()])),
  mul_base: (c) => toHex(group.encode(group.multiplyBase(scalar(c.scalar)))),
  mul: (c) => toHex(group.encode(group.multiply(scalar(c.scalar), element(c.element)))),
  add: (c) => toHex(group.encode(group.add(element(c.a), element(c.b)))),
  equals: (c) => group.equals(element(c.a), element(c.b)),
  from_uniform: (c) => toHex(group.encode(group.fromUniformBytes(bytes(c.bytes)))),
  decode: (c) => {
    const point = group.decode(bytes(c.element));
    return point === null ? null : toHex(group.encode(point));
  },
  scalar_reduce: (c) => toHex(group.scalar.encode(group.scalar.reduce(bytes(c.bytes)))),
  scalar_invert: (c) => toHex(group.scalar.encode(group.scalar.invert(scalar(c.scalar)))),
  scalar_mul: (c) => toHex(group.scalar.encode(group.scalar.multiply(scalar(c.a), scalar(c.b)))),
  hash_to_group: async (c) =>
    toHex(group.encode(await voprf.hashToGroup(bytes(c.input), c.mode))),
  blind: async (c) => toHex((await voprf.blind(bytes(c.input), c.mode, scalar(c.blind))).blindedElement),
  random_blind: async (c) => {
    const result = await voprf.blind(bytes(c.input), c.mode);
    return { blind: toHex(group.scalar.encode(result.blind)), blinded: toHex(result.blindedElement) };
  },
  verify: (c) => voprf.verifyProof(
    bytes(c.pk), c.blinded.map(bytes), c.evaluated.map(bytes), bytes(c.proof)),
  finalize: async (c) => toHex(await voprf.finalize(bytes(c.input), scalar(c.blind), bytes(c.evaluated))),
  finalize_verified: async (c) => toHex(await voprf.finalizeVerified(
    bytes(c.pk), bytes(c.input), scalar(c.blind), bytes(c.blinded), bytes(c.evaluated),
    bytes(c.proof))),
  normalize: (c) => borrowerIds.normalizeId(c.kind, c.value, { countries: c.countries, today: c.today }),
  inner: async (c) => toHex(await borrowerToken.innerTokenInput(bytes(c.pepper), c.kind, c.canonical)),
  fingerprint: (c) => borrowerToken.pepperFingerprint(bytes(c.pepper)),
  // The whole look-up, with the registry's answer made beforehand for the blind given: the
  // stand-in registry refuses any blinded element but the one expected.
  token: (c) => borrowerToken.computeToken({
    kind: c.kind,
    value: c.value,
    pepper: c.pepper,
    keyId: c.key_id,
    publicKey: c.public_key,
    fingerprint: c.fingerprint,
    countries: c.countries,
    today: c.today,
    blind: scalar(c.blind),
    evaluate: async (blindedHex, keyId) => {
      if (blindedHex !== c.expected_blinded || keyId !== c.key_id) {
        throw new Error("the stand-in registry was sent an unexpected element or key");
      }
      return c.answer;
    }
  })
};

async function run(cases) {
  const results = [];
  for (const c of cases) {
    try {
      results.push(await ops[c.op](c));
    } catch (error) {
      results.push({ error: error.name, message: error.message });
    }
  }
  return results;
}

let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => { input += chunk; });
process.stdin.on("end", () => {
  run(JSON.parse(input)).then(
    (results) => { process.stdout.write(JSON.stringify(results)); },
    (error) => { process.stderr.write(String(error && error.stack)); process.exit(1); });
});
