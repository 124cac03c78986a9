#!/usr/bin/env node
// node verify_bundle.js BUNDLE.json KEY.pub sha256:HEX [PREDICATE_TYPE]
//
// The sigstore project's own verdict on one bundle, in keyed mode: @sigstore/bundle reads
// and validates it, @sigstore/verify checks the signature over DSSE's pre-authentication
// encoding with KEY.pub (trust material holding that key alone: no CA, no Rekor, no TSA,
// every threshold 0). The bundle's publicKey hint is not consulted: as `cosign verify
// --key`, the caller's key is the key. Then, as a consumer of the statement must, the
// payload is read as an in-toto statement (payloadType application/vnd.in-toto+json) and
// one of its subjects must carry the expected sha256 digest, and, when PREDICATE_TYPE is
// given, its predicateType must be that one: in-toto's validation model hands the
// predicate type to the consumer's policy, and a consumer verifying an image *signature*
// expects cosign's signing predicate, not an attestation. The subject's name is not
// judged here (it is banger's signedIdentity policy); it is reported for run.py.
//
// Prints one JSON line {"accepted", "reason", "predicateType", "subjectName"}; exit 0
// either way, 2 on a usage error.
'use strict';
const fs = require('fs');
const crypto = require('crypto');
const { bundleFromJSON } = require('@sigstore/bundle');
const { Verifier, toSignedEntity, toTrustMaterial } = require('@sigstore/verify');

const INTOTO = 'application/vnd.in-toto+json';

function usage(why) {
  process.stderr.write(`verify_bundle.js: ${why}\nusage: node verify_bundle.js BUNDLE.json KEY.pub sha256:HEX [PREDICATE_TYPE]\n`);
  process.exit(2);
}

function verdict(accepted, reason, extra = {}) {
  console.log(JSON.stringify({ accepted, reason, ...extra }));
  process.exit(0);
}

const [bundlePath, keyPath, expected, predicateType] = process.argv.slice(2);
if (process.argv.length !== 5 && process.argv.length !== 6) usage('wants three or four arguments');
if (!/^sha256:[0-9a-f]{64}$/.test(expected)) usage(`not a sha256 digest: ${expected}`);
let bundleText, key;
try {
  bundleText = fs.readFileSync(bundlePath, 'utf8');
  key = crypto.createPublicKey(fs.readFileSync(keyPath));
} catch (e) {
  usage(e.message);
}

// Keyed mode: an empty trusted root, and a key finder that answers every hint with our key.
const trust = toTrustMaterial(
  { mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [], certificateAuthorities: [], ctlogs: [], timestampAuthorities: [] },
  () => ({ publicKey: key, validFor: () => true }));
const verifier = new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0, tsaThreshold: 0 });

let bundle;
try {
  bundle = bundleFromJSON(JSON.parse(bundleText));
  verifier.verify(toSignedEntity(bundle));
} catch (e) {
  const fields = Array.isArray(e.fields) ? ` (${e.fields.join(', ')})` : '';
  verdict(false, `${e.code ? e.code + ': ' : ''}${e.message}${fields}`);
}

if (bundle.content.$case !== 'dsseEnvelope') verdict(false, 'not a DSSE bundle: it signs a blob, not a statement');
const envelope = bundle.content.dsseEnvelope;
if (envelope.payloadType !== INTOTO) verdict(false, `payloadType is ${JSON.stringify(envelope.payloadType)}, not ${INTOTO}`);
let statement;
try {
  statement = JSON.parse(envelope.payload.toString('utf8'));
} catch (e) {
  verdict(false, `the statement is not JSON: ${e.message}`);
}
const subjects = Array.isArray(statement && statement.subject) ? statement.subject : [];
const ours = subjects.find((s) => s && s.digest && `sha256:${s.digest.sha256}` === expected);
const info = { predicateType: statement && statement.predicateType };
if (!ours) {
  const signed = subjects.map((s) => `sha256:${s && s.digest && s.digest.sha256}`).join(', ') || 'nothing';
  verdict(false, `the statement is about ${signed}, not ${expected}`, info);
}
if (predicateType !== undefined && info.predicateType !== predicateType) {
  verdict(false, `@sigstore/verify accepts the signature; the statement's predicateType is ${JSON.stringify(info.predicateType)}, ` +
    `not the expected ${predicateType}`, info);
}
verdict(true, 'signature verifies with the key; the statement names the digest',
  { ...info, subjectName: typeof ours.name === 'string' ? ours.name : null });
