#!/usr/bin/python3
"""Builds a one-layer OCI image from a directory (owners, modes, links as on disk) and
pushes it to a registry: the demo's way to make a real image without Docker.

    push_dir.py --dir ROOTFS --registry 127.0.0.1:5000 --repo demo/busybox --tag 1
"""
import argparse
import gzip
import io
import json
import os
import sys
import tarfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures"))
import oci  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--registry", required=True)
    parser.add_argument("--repo", required=True)
    parser.add_argument("--tag", required=True)
    args = parser.parse_args()
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(os.listdir(args.dir)):
            tar.add(os.path.join(args.dir, name), arcname=name)
    tar_bytes = raw.getvalue()
    layer = gzip.compress(tar_bytes, mtime=0)
    registry = oci.Registry(args.registry)
    layer_digest = registry.put_blob(args.repo, layer)
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Cmd": ["/bin/sh"]},
                         "rootfs": {"type": "layers", "diff_ids": [oci.sha256(tar_bytes)]}}).encode()
    config_digest = registry.put_blob(args.repo, config)
    manifest = {"schemaVersion": 2, "mediaType": oci.OCI_MANIFEST,
                "config": {"mediaType": oci.OCI_CONFIG, "digest": config_digest, "size": len(config)},
                "layers": [{"mediaType": oci.OCI_LAYER_GZIP, "digest": layer_digest, "size": len(layer)}]}
    digest = registry.put_manifest(args.repo, args.tag, json.dumps(manifest).encode(), oci.OCI_MANIFEST)
    print(f"pushed {args.registry}/{args.repo}:{args.tag} {digest} ({len(layer)} bytes compressed)")


if __name__ == "__main__":
    main()
