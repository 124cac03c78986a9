#!/usr/bin/python3
"""Cross-checks banger's verdict on cosign bundles (sigstore bundle v0.3, keyed, found
through the referrers fallback tag) with the sigstore project's own verifier,
@sigstore/verify (verify_bundle.js), on the same bundles from a real registry.

    python3 bench/sigstore_crosscheck/run.py [--bin DIR] [--work DIR] [--node NODE]

Needs the built banger (--bin, default build/bin of this checkout), Debian's docker-registry,
python3-cryptography and libsodium (the fixtures, craft.py), node, and npm once (`npm ci`
when node_modules is missing). Runs as root: banger wants its policy and keys root's.

Each case pushes an image to its own repository, signs it with tests/fixtures/cosign.py
(--scheme referrers, subject name = the image's repository; craft.py for the alterations
cosign.py has no option for), reads the bundle back from the registry (fallback tag
sha256-<hex> -> referrer manifest -> bundle blob), and asks both:
  - verify_bundle.js BUNDLE KEY DIGEST PREDICATE: @sigstore/verify in keyed mode, then what
    its caller must check of the statement (in-toto's validation model): an in-toto
    payloadType, a subject with DIGEST, and the predicate type expected of an image
    signature (cosign's signing predicate);
  - banger image verify REF --signature-policy P, P = sigstoreSigned with that key,
    signedIdentity matchRepository and "namelessBundles": "accept". Subject names are
    banger's signedIdentity policy, which @sigstore/verify has no part in: with
    namelessBundles accept a bundle without a name is bound by its digest alone, as
    @sigstore/verify binds it.

Every case states the verdict it expects. Its result is
  agree     both gave it;
  DISAGREE  anything else. Exit 1 when any case disagrees.
After the table, banger's own policy rows (not compared, @sigstore/verify having no such
rule): a nameless bundle under a policy without namelessBundles, and a bundle whose subject
names another repository; banger must refuse both.
Decided case by case:
  - payloadType other than in-toto (signed so, or changed after signing): both refuse; the
    library leaves the type to its caller, and verify_bundle.js reads a statement only from
    an in-toto payload, as the bundle spec tells verifiers to.
  - predicateType not cosign's signing predicate (an SLSA attestation): @sigstore/verify
    verifies the signature, and its caller, expecting an image signature, refuses the
    statement; banger refuses it too (docs/signatures.md: an attestation is no signature).
  - nameless subject (as cosign writes every bundle): both accept it, bound by its digest.
  - unknown bundle field (--pad-bytes), unknown statement field: both pass them over (the
    wrapper is unsigned; in-toto tells consumers to ignore fields they do not know).
  - Ed25519ph over a DSSE envelope: both refuse; sigstore-go and @sigstore/verify verify
    an envelope as pure Ed25519 only, and so does banger (Ed25519ph is cosign's form for
    tag-scheme payloads, where banger still takes it).
  - two envelope signatures, a bogus one first: the bundle spec says a verifier MUST reject
    an envelope without exactly one, and @sigstore/bundle does; so does banger (it did not
    until this cross-check found it).
"""
import argparse
import collections
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
FIXTURES = os.path.join(REPO, "tests", "fixtures")
PYTHON = "/usr/bin/python3"
BUNDLE_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1"

def statement(name, digest, predicate=SIGN_PREDICATE, **extra):
    subject = {"digest": {"sha256": digest.split(":", 1)[1]}}
    if name:
        subject = {"name": name, **subject}
    return json.dumps({"_type": "https://in-toto.io/Statement/v1", "subject": [subject],
                       "predicateType": predicate, "predicate": {}, **extra}, separators=(",", ":"))


# A case: the key that signs, the key of the policy (and of verify_bundle.js), the verdict both
# must give, cosign.py's extra options (a function of the image's name, its digest, and another
# image's digest), a craft.py alteration, and the phrase banger's refusal must carry.
Case = collections.namedtuple("Case", "name signer key expect options craft phrase",
                              defaults=(lambda n, d, a: [], None, None))
CASES = [
    Case("good-ecdsa-p256", "ecdsa-p256", "ecdsa-p256", "accept"),
    Case("good-rsa-2048", "rsa-2048", "rsa-2048", "accept"),
    Case("good-ed25519", "ed25519", "ed25519", "accept"),
    Case("wrong-key", "stranger", "ecdsa-p256", "refuse", phrase="no signature verifies"),
    Case("tampered-payload", "ecdsa-p256", "ecdsa-p256", "refuse", lambda n, d, a: ["--tamper"],
         phrase="no signature verifies"),
    Case("other-image", "ecdsa-p256", "ecdsa-p256", "refuse", lambda n, d, a: ["--signed-digest", a],
         phrase="not this image's"),
    Case("payload-type-changed", "ecdsa-p256", "ecdsa-p256", "refuse", craft="retyped", phrase="no signature verifies"),
    Case("payload-type-signed", "ecdsa-p256", "ecdsa-p256", "refuse", craft="signed-type", phrase="payloadType"),
    Case("two-signatures", "ecdsa-p256", "ecdsa-p256", "refuse", craft="two-signatures", phrase="other than one signature"),
    Case("attestation-predicate", "ecdsa-p256", "ecdsa-p256", "refuse",
         lambda n, d, a: ["--payload-json", statement(n, d, "https://slsa.dev/provenance/v1")],
         phrase="an attestation is not a signature"),
    Case("nameless-subject", "ecdsa-p256", "ecdsa-p256", "accept", lambda n, d, a: ["--payload-json", statement(None, d)]),
    Case("unknown-bundle-field", "ecdsa-p256", "ecdsa-p256", "accept", lambda n, d, a: ["--pad-bytes", "64"]),
    Case("unknown-statement-field", "ecdsa-p256", "ecdsa-p256", "accept",
         lambda n, d, a: ["--payload-json", statement(n, d, comment="a field from a newer signer")]),
    Case("ed25519ph", "ed25519", "ed25519", "refuse", craft="ed25519ph", phrase="no signature verifies"),
]

# banger's own policy, which @sigstore/verify has no rule for: (name, what is signed, the policy
# requirement's extra keys, the phrase banger's refusal must carry). Both must be refused.
POLICY_ROWS = [
    ("nameless-under-the-default", lambda n, d: statement(None, d), {}, "names no identity"),
    ("subject-names-another-repository", lambda n, d: statement(n + "-elsewhere", d), {"namelessBundles": "accept"},
     "the signature is for"),
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
    if node["verdict"] == banger["verdict"] == case.expect and (case.phrase is None or case.phrase in banger["reason"]):
        return "agree"
    return "DISAGREE"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bin", default=os.path.join(REPO, "build", "bin"), help="the directory of the built banger")
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

    def sign(repo, digest, signer, extra, craft=None):
        tool = [PYTHON, os.path.join(HERE, "craft.py"), craft] if craft else [PYTHON, os.path.join(FIXTURES, "cosign.py")]
        checked(tool + ["sign", "--registry", host, "--repo", repo, "--digest", digest, "--key", keys[signer][0],
                        "--scheme", "referrers", "--identity", f"{host}/{repo}"] + extra)

    def banger_verdict(repo, key, extra_policy):
        policy = os.path.join(work, f"policy-{repo.replace('/', '-')}.json")
        with open(policy, "w") as f:
            json.dump({"default": [{"type": "sigstoreSigned", "keyPath": keys[key][1],
                                    "signedIdentity": {"type": "matchRepository"}, **extra_policy}]}, f)
        done = run([os.path.join(args.bin, "banger"), "image", "verify", f"{host}/{repo}:v1",
                    "--signature-policy", policy, "--json"], env=env)
        if done.returncode not in (0, 1):
            sys.exit(f"run.py: banger image verify exited {done.returncode}: {done.stderr.strip()}")
        reason = done.stderr.strip().removeprefix("banger: error: ") or "accepted"
        return {"verdict": "accept" if done.returncode == 0 else "refuse", "reason": reason}

    results = []
    for seed, case in enumerate(CASES, start=100):
        repo = f"crosscheck/{case.name}"
        digest = push(host, repo, seed)
        other = push(host, repo + "-other", seed + 1000) if case.name == "other-image" else None
        sign(repo, digest, case.signer, case.options(f"{host}/{repo}", digest, other), case.craft)
        bundle = os.path.join(work, case.name + ".bundle.json")
        with open(bundle, "wb") as f:
            f.write(fetch_bundle(host, repo, digest))
        out = json.loads(checked([args.node, os.path.join(HERE, "verify_bundle.js"), bundle, keys[case.key][1], digest,
                                  SIGN_PREDICATE]))
        node = {"verdict": "accept" if out["accepted"] else "refuse", "reason": out["reason"]}
        banger = banger_verdict(repo, case.key, {"namelessBundles": "accept"})
        results.append((case, node, banger, classify(case, node, banger)))
    policy_rows = []
    for seed, (name, payload, extra_policy, phrase) in enumerate(POLICY_ROWS, start=500):
        repo = f"crosscheck/{name}"
        digest = push(host, repo, seed)
        sign(repo, digest, "ecdsa-p256", ["--payload-json", payload(f"{host}/{repo}", digest)])
        banger = banger_verdict(repo, "ecdsa-p256", extra_policy)
        ok = banger["verdict"] == "refuse" and phrase in banger["reason"]
        policy_rows.append((name, banger, "refused as it must be" if ok else "WRONG"))
    return results, policy_rows


def push(host, repo, seed):
    out = checked([PYTHON, os.path.join(FIXTURES, "oci.py"), "push", "--registry", host, "--repo", repo,
                   "--tag", "v1", "--seed", str(seed)])
    return json.loads(out)["images"]["linux/amd64"]["manifest_digest"]


def report(checked_results):
    results, policy_rows = checked_results
    rows = [("case", "expected", "@sigstore/verify", "banger", "result")]
    for case, node, banger, result in results:
        rows.append((case.name, case.expect, node["verdict"], banger["verdict"], result))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)) + "  " + row[4])
    print("\nbanger's own policy (no rule of @sigstore/verify's; banger must refuse):")
    for name, banger, result in policy_rows:
        print(f"  {name}: banger {banger['verdict']}s, {result}")
    print("\nreasons:")
    for case, node, banger, _ in results:
        print(f"  {case.name}\n    @sigstore/verify: {node['reason']}\n    banger: {banger['reason']}")
    for name, banger, _ in policy_rows:
        print(f"  {name}\n    banger: {banger['reason']}")
    disagree = [c.name for c, _, _, r in results if r == "DISAGREE"]
    wrong = [name for name, _, r in policy_rows if r == "WRONG"]
    n = len(results)
    if disagree or wrong:
        print(f"crosscheck: {n} cases, banger and @sigstore/verify disagree on {len(disagree)}: " + ", ".join(disagree)
              + (f"; banger's policy wrong on: {', '.join(wrong)}" if wrong else ""))
        return 1
    print(f"crosscheck: {n} cases, banger and @sigstore/verify agree on all; "
          f"banger's policy refuses its {len(policy_rows)} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
