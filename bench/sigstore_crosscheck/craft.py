#!/usr/bin/python3
"""tests/fixtures/cosign.py with one alteration of the bundle it makes, for run.py:

    craft.py CRAFT sign ...   (the options of `cosign.py sign`)

CRAFT is one of
  signed-type     the envelope signed over, and declaring, payloadType application/json;
  retyped         payloadType changed to application/json after signing;
  two-signatures  a bogus signature (64 zero bytes) before the good one in the envelope;
  ed25519ph       Ed25519 keys sign with Ed25519ph (RFC 8032's pre-hashed form, empty
                  context), as cosign signs images; libsodium makes it (python3-cryptography
                  and OpenSSL 3.0 cannot).
"""
import base64
import ctypes
import ctypes.util
import json
import os
import sys

sys.dont_write_bytecode = True  # leave no __pycache__ in tests/fixtures
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "tests", "fixtures"))
import cosign  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ed25519  # noqa: E402

CRAFT = sys.argv.pop(1) if len(sys.argv) > 1 else ""
plain_bundle, plain_sign = cosign.make_bundle, cosign.sign_bytes


def make_bundle(*args):
    bundle = json.loads(plain_bundle(*args))
    if CRAFT == "retyped":
        bundle["dsseEnvelope"]["payloadType"] = "application/json"
    elif CRAFT == "two-signatures":
        bundle["dsseEnvelope"]["signatures"].insert(0, {"sig": base64.b64encode(bytes(64)).decode()})
    return cosign.compact(bundle)


def sign_ed25519ph(key, message):
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        return plain_sign(key, message)
    sodium = ctypes.CDLL(ctypes.util.find_library("sodium") or "libsodium.so.23")
    if sodium.sodium_init() < 0:
        raise RuntimeError("libsodium does not initialize")
    seed = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                             serialization.NoEncryption())
    public, secret, signature = (ctypes.create_string_buffer(n) for n in (32, 64, 64))
    state = ctypes.create_string_buffer(sodium.crypto_sign_statebytes())
    sodium.crypto_sign_seed_keypair(public, secret, seed)
    sodium.crypto_sign_init(state)
    sodium.crypto_sign_update(state, message, ctypes.c_ulonglong(len(message)))
    sodium.crypto_sign_final_create(state, signature, None, secret)
    return signature.raw


if CRAFT == "signed-type":
    cosign.INTOTO_PAYLOAD = "application/json"
elif CRAFT == "ed25519ph":
    cosign.sign_bytes = sign_ed25519ph
elif CRAFT not in ("retyped", "two-signatures"):
    sys.exit(f"craft.py: unknown alteration {CRAFT!r}")
cosign.make_bundle = make_bundle
cosign.main()
