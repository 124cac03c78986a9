#!/usr/bin/python3
"""Cross-checks banger's verdict on cosign bundles (sigstore bundle v0.3, keyed, found
through the referrers fallback tag) with the sigstore project's own verifier,
@sigstore/verify (verify_bundle.js), on the same bundles from a real registry.

    python3 bench/sigstore_crosscheck/run.py [--bin DIR] [--work DIR] [--node NODE]

Needs the built banger (--bin, default /tmp/fresh/build/bin), Debian's docker-registry and
python3-cryptography (for tests/fixtures), node, and npm once (`npm ci` when node_modules is
missing). Runs as root, as banger's policy and key files must be root's.

Each case pushes an image to its own repository, signs it with tests/fixtures/cosign.py
(--scheme referrers, subject name = the image's repository), reads the bundle back from the
registry (fallback tag sha256-<hex> -> referrer manifest -> bundle blob), and asks both:
  - verify_bundle.js BUNDLE KEY DIGEST: @sigstore/verify in keyed mode, then the in-toto
    statement must name DIGEST;
  - banger image verify REF --signature-policy P, P = sigstoreSigned with that key and
    signedIdentity matchRepository.

Every case states the verdict it expects. A case's result is
  agree                    both gave the expected verdict;
  differs (documented: X)  @sigstore/verify accepts and banger refuses, for the reason the
                           case names (its refusal must say so) and X documents: banger checks
                           what the statement means, which @sigstore/verify leaves to its caller;
  DISAGREE                 anything else: the other way round, another reason, or a verdict
                           neither should give. Exit 1 when any case disagrees.
Decided case by case:
  - nameless subject: documented in docs/signatures.md (a bundle's identity is its subject's
    name; cosign writes none, and then no signedIdentity rule is satisfied);
  - predicateType not cosign's signing predicate: banger takes only cosign's signature
    statement (broker/trust/dsse.h: "an attestation is not a signature"); docs/signatures.md
    does not say it;
  - unknown bundle field (--pad-bytes): banger reads the bundle as strictly as protojson does
    (sigstore-go, broker/trust/dsse.cpp), @sigstore/bundle drops unknown fields; not in
    docs/signatures.md;
  - payloadType other than in-toto: the statement is read only from an in-toto payload by
    both (verify_bundle.js checks it as a consumer must, the library does not): agreement;
  - two envelope signatures, a bogus one first: the bundle spec wants exactly one and
    @sigstore/bundle refuses the bundle; banger tries each signature. Not documented, so
    it counts as a disagreement if banger accepts.
  - Ed25519ph is no case: cosign.py signs pure Ed25519 only, and @sigstore/verify 2.x
    verifies Ed25519 as pure Ed25519 too, so both would refuse one.
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "..", "tests", "fixtures")
PYTHON = "/usr/bin/python3"
BUNDLE_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1"

# cosign.py with its bundle altered: run as `python3 -c CRAFT FIXTURES CRAFT_NAME sign ...`.
CRAFT = r'''
import base64, json, sys
sys.path.insert(0, sys.argv[1]); craft = sys.argv[2]; del sys.argv[1:3]
import cosign
if craft == "signed-type":  # signed over, and declared as, another payload type
    cosign.INTOTO_PAYLOAD = "application/json"
plain = cosign.make_bundle
def make_bundle(*args):
    bundle = json.loads(plain(*args))
    if craft == "retyped":  # the payload type changed after signing
        bundle["dsseEnvelope"]["payloadType"] = "application/json"
    elif craft == "two-signatures":  # a bogus signature before the good one
        bundle["dsseEnvelope"]["signatures"].insert(0, {"sig": base64.b64encode(bytes(64)).decode()})
    return cosign.compact(bundle)
cosign.make_bundle = make_bundle
cosign.main()
'''


def statement(name, digest, predicate=SIGN_PREDICATE):
    subject = {"digest": {"sha256": digest.split(":", 1)[1]}}
    if name:
        subject = {"name": name, **subject}
    return json.dumps({"_type": "https://in-toto.io/Statement/v1", "subject": [subject],
                       "predicateType": predicate, "predicate": {}}, separators=(",", ":"))


# name, signing key, policy key, expected verdict, cosign.py options (a function of the image's
# name, digest and, for other-image, the other image's digest), craft, documented difference
# (the phrase banger's refusal carries, where it is documented) or None.
CASES = [
    ("good-ecdsa-p256", "ecdsa-p256", "ecdsa-p256", "accept", lambda n, d, a: [], None, None),
    ("good-rsa-2048", "rsa-2048", "rsa-2048", "accept", lambda n, d, a: [], None, None),
    ("good-ed25519", "ed25519", "ed25519", "accept", lambda n, d, a: [], None, None),
    ("wrong-key", "stranger", "ecdsa-p256", "refuse", lambda n, d, a: [], None, None),
    ("tampered-payload", "ecdsa-p256", "ecdsa-p256", "refuse", lambda n, d, a: ["--tamper"], None, None),
    ("other-image", "ecdsa-p256", "ecdsa-p256", "refuse", lambda n, d, a: ["--signed-digest", a], None, None),
    ("payload-type-changed", "ecdsa-p256", "ecdsa-p256", "refuse", lambda n, d, a: [], "retyped", None),
    ("payload-type-signed", "ecdsa-p256", "ecdsa-p256", "refuse", lambda n, d, a: [], "signed-type", None),
    ("two-signatures", "ecdsa-p256", "ecdsa-p256", "refuse", lambda n, d, a: [], "two-signatures", None),
    ("attestation-predicate", "ecdsa-p256", "ecdsa-p256", "refuse",
     lambda n, d, a: ["--payload-json", statement(n, d, "https://slsa.dev/provenance/v1")], None,
     ("an attestation is not a signature", "broker/trust/dsse.h, cosign's signing predicate only")),
    ("nameless-subject", "ecdsa-p256", "ecdsa-p256", "refuse",
     lambda n, d, a: ["--payload-json", statement(None, d)], None,
     ("names no identity", "docs/signatures.md, a bundle's identity is its subject's name")),
    ("unknown-bundle-field", "ecdsa-p256", "ecdsa-p256", "refuse", lambda n, d, a: ["--pad-bytes", "64"], None,
     ('unknown key "padding"', "broker/trust/dsse.cpp, bundle read as strictly as protojson")),
]


def run(cmd, env=None, cwd=None):
    return subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd)


def checked(cmd, **kw):
    done = run(cmd, **kw)
    if done.returncode != 0:
        sys.exit(f"run.py: {' '.join(cmd[:3])}... failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def get(url, accept=None):
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.read()


def fetch_bundle(host, repo, digest):
    """The bundle the fallback tag lists for `digest`: index -> referrer manifest -> blob."""
    base = f"http://{host}/v2/{repo}"
    index = json.loads(get(f"{base}/manifests/{digest.replace(':', '-')}", INDEX_TYPE))
    referrers = [m for m in index["manifests"] if m.get("artifactType") == BUNDLE_TYPE]
    if len(referrers) != 1:
        raise RuntimeError(f"{repo}: {len(referrers)} bundle referrers, wanted 1")
    manifest = json.loads(get(f"{base}/manifests/{referrers[0]['digest']}", MANIFEST_TYPE))
    blob_digest = manifest["layers"][0]["digest"]
    blob = get(f"{base}/blobs/{blob_digest}")
    if "sha256:" + hashlib.sha256(blob).hexdigest() != blob_digest:
        raise RuntimeError(f"{repo}: the registry served another blob than {blob_digest}")
    return blob


def start_registry(root):
    registry = subprocess.Popen([PYTHON, os.path.join(FIXTURES, "registry.py"), "--root", root],
                                stdout=subprocess.PIPE, text=True)
    line = registry.stdout.readline()
    if not line.startswith("ready port="):
        registry.kill()
        sys.exit(f"run.py: the registry did not start: {line.strip()!r} (see {root}/registry.log)")
    return registry, "127.0.0.1:" + line.split()[1].split("=")[1]


def classify(case, node, banger):
    _, _, _, expected, _, _, documented = case
    verdicts = {node["verdict"], banger["verdict"]}
    if verdicts == {expected}:
        return "agree"
    if documented and node["verdict"] == "accept" and banger["verdict"] == "refuse" and documented[0] in banger["reason"]:
        return f"differs (documented: {documented[1]})"
    return "DISAGREE"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", default="/tmp/fresh/build/bin", help="the directory of the built banger")
    parser.add_argument("--work", help="scratch directory to keep (default: a temporary one, removed)")
    parser.add_argument("--node", default="node", help="the node binary (default: node on PATH)")
    args = parser.parse_args()
    if not os.access(os.path.join(args.bin, "banger"), os.X_OK):
        sys.exit(f"run.py: no banger in {args.bin} (build it, or give --bin)")
    if not os.path.isdir(os.path.join(HERE, "node_modules")):
        print("node_modules is missing: running npm ci (needs the npm registry once)", flush=True)
        checked(["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE)
    if args.work:
        os.makedirs(args.work, exist_ok=True)
    work = tempfile.mkdtemp(prefix="sigstore-crosscheck-", dir=args.work)  # 0700: root's alone
    registry = None
    try:
        registry, host = start_registry(os.path.join(work, "registry"))
        results = crosscheck(args, work, host)
    finally:
        if registry:
            registry.terminate()
            registry.wait(timeout=30)
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    return report(results)


def crosscheck(args, work, host):
    keys = {}
    for name in ("ecdsa-p256", "rsa-2048", "ed25519", "stranger"):
        kind = "ecdsa-p256" if name == "stranger" else name
        keys[name] = (os.path.join(work, name + ".key"), os.path.join(work, name + ".pub"))
        checked([PYTHON, os.path.join(FIXTURES, "cosign.py"), "keygen", "--kind", kind,
                 "--private", keys[name][0], "--public", keys[name][1]])
    config = os.path.join(work, "config")
    with open(config, "w") as f:
        f.write(f"audit_log = {work}/audit.log\naudit_syslog = none\n")
    for d in ("state", "cache"):
        os.mkdir(os.path.join(work, d), 0o700)
    env = dict(os.environ, BANGER_STATE_DIR=f"{work}/state", BANGER_CACHE_DIR=f"{work}/cache",
               DOCKER_CONFIG=f"{work}/cache", BANGER_CONFIG=config)
    results = []
    for seed, case in enumerate(CASES, start=100):
        name, signer, verifier_key, _, options, craft, _ = case
        repo = f"crosscheck/{name}"
        digest = push(host, repo, seed)
        other = push(host, repo + "-other", seed + 1000) if name == "other-image" else None
        sign = [PYTHON, os.path.join(FIXTURES, "cosign.py")]
        if craft:
            sign = [PYTHON, "-c", CRAFT, FIXTURES, craft]
        checked(sign + ["sign", "--registry", host, "--repo", repo, "--digest", digest, "--key", keys[signer][0],
                        "--scheme", "referrers", "--identity", f"{host}/{repo}"] + options(f"{host}/{repo}", digest, other))
        bundle = os.path.join(work, name + ".bundle.json")
        with open(bundle, "wb") as f:
            f.write(fetch_bundle(host, repo, digest))
        pub = keys[verifier_key][1]
        out = json.loads(checked([args.node, os.path.join(HERE, "verify_bundle.js"), bundle, pub, digest]))
        node = {"verdict": "accept" if out["accepted"] else "refuse", "reason": out["reason"]}
        policy = os.path.join(work, f"policy-{verifier_key}.json")
        with open(policy, "w") as f:
            json.dump({"default": [{"type": "sigstoreSigned", "keyPath": pub,
                                    "signedIdentity": {"type": "matchRepository"}}]}, f)
        done = run([os.path.join(args.bin, "banger"), "image", "verify", f"{host}/{repo}:v1",
                    "--signature-policy", policy, "--json"], env=env)
        if done.returncode not in (0, 1):
            sys.exit(f"run.py: banger image verify exited {done.returncode}: {done.stderr.strip()}")
        reason = done.stderr.strip() or "accepted"
        banger = {"verdict": "accept" if done.returncode == 0 else "refuse", "reason": reason}
        results.append((case, node, banger, classify(case, node, banger)))
    return results


def push(host, repo, seed):
    out = checked([PYTHON, os.path.join(FIXTURES, "oci.py"), "push", "--registry", host, "--repo", repo,
                   "--tag", "v1", "--seed", str(seed)])
    return json.loads(out)["images"]["linux/amd64"]["manifest_digest"]


def report(results):
    rows = [("case", "expected", "@sigstore/verify", "banger", "result")]
    rows += [(c[0], c[3], n["verdict"], b["verdict"], r) for c, n, b, r in results]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[4])
    print("\nreasons:")
    for case, node, banger, _ in results:
        print(f"  {case[0]}\n    @sigstore/verify: {node['reason']}\n    banger: {banger['reason']}")
    disagree = [c[0] for c, _, _, r in results if r == "DISAGREE"]
    differs = [c[0] for c, _, _, r in results if r.startswith("differs")]
    n = len(results)
    if disagree:
        print(f"crosscheck: {n} cases, banger and @sigstore/verify disagree on {len(disagree)}: " + ", ".join(disagree))
        return 1
    if differs:
        print(f"crosscheck: {n} cases, banger and @sigstore/verify agree on {n - len(differs)}; "
              f"{len(differs)} differ as documented: " + ", ".join(differs))
        return 0
    print(f"crosscheck: {n} cases, banger and @sigstore/verify agree on all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
