#!/usr/bin/python3
"""The scale image and the size curve: cold and warm `banger image pull` of images
shaped like a CUDA or PyTorch image (8 gzip layers: many small source-like files, a
few large shared-library-like files that gzip halves), at several content sizes,
against the peer pipeline (skopeo copy -> umoci unpack -> mkfs.ext4 -d), alternating.

    bench/scale_bench.py --banger BUILD/bin/banger [--sizes 256M,1G,4G] [--rounds 3]
                         [--work DIR] [--results bench/RESULTS.md] [--no-peer]

The 4G image is the scale image: about 4 GB of content, 150 000 files. The file count
scales with the content (150 000 per 4 GiB). Reports, per size: wall time cold and
warm, the peer's, seconds per GiB of content (flat when the pull is linear), and each
process's peak RSS. With --results it replaces the "Scale" section of that file and
keeps the rest. Needs about 6.5 x the largest size of free disk in --work (about 25 GB
for 4G): checked first. Images are built once per --work and reused. Not a test.
"""
import argparse
import datetime
import hashlib
import io
import json
import os
import random
import shutil
import subprocess
import sys
import tarfile
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pull_bench import Registry, cold_and_warm, drop_caches, median, peer_pull, run  # noqa: E402

GIB = 1 << 30
FILES_PER_GIB = 150000 // 4
LAYERS = 8
MTIME = 1700000000
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
from pull_bench import SCALE_SECTION as SECTION  # noqa: E402


def parse_size(text):
    units = {"M": 1 << 20, "G": GIB}
    return int(float(text[:-1]) * units[text[-1].upper()]) if text[-1].upper() in units else int(text)


class Pools:
    """Bytes to cut files from: random (incompressible) and source-like text (gzip about
    7x). A library-like file alternates 64 KiB of each, so gzip about halves it."""

    def __init__(self, rng):
        self.random = os.urandom(8 << 20)
        words = [b"tensor", b"return", b"self", b"import", b"torch", b"def", b"cuda", b"float32", b"kernel"]
        lines, length = [], 0
        while length < (8 << 20):
            lines.append(b"    %s_%d = %s(%d)  # %s\n" % (rng.choice(words), rng.randrange(10000),
                                                       rng.choice(words), rng.randrange(1 << 20), rng.choice(words)))
            length += len(lines[-1])
        self.text = b"".join(lines)

    def cut(self, pool, rng, size):
        out = []
        while size > 0:
            take = min(size, 64 << 10)
            at = rng.randrange(len(pool) - take)
            out.append(pool[at:at + take])
            size -= take
        return b"".join(out)

    def library(self, rng, size):
        out, left, which = [], size, 0
        while left > 0:
            take = min(left, 64 << 10)
            out.append(self.cut(self.random if which % 2 == 0 else self.text, rng, take))
            left -= take
            which += 1
        return b"".join(out)


def layer_entries(index, content, files, pools, rng):
    """One layer's (TarInfo, bytes) list: about `content` bytes in `files` files; 40% of
    the bytes in small text files (log-uniform 200 B .. 64 KiB), the rest in libraries."""
    top = "opt/layer%d" % index
    entries, made_dirs = [], set()

    def make_dirs(path):
        parts = path.split("/")
        for depth in range(1, len(parts) + 1):
            name = "/".join(parts[:depth])
            if name not in made_dirs:
                made_dirs.add(name)
                info = tarfile.TarInfo(name)
                info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, MTIME
                entries.append((info, None))

    small_budget, small_count = int(content * 0.4), max(1, files - max(1, files // 2000))
    directory, made = None, 0
    for i in range(small_count):
        if i % 50 == 0:
            directory = "%s/pkg%03d/mod%03d" % (top, i // 2500, (i // 50) % 50)
            make_dirs(directory)
        size = int(200 * (65536 / 200) ** rng.random())
        size = min(size, max(0, small_budget - made))
        info = tarfile.TarInfo("%s/f%05d.py" % (directory, i))
        info.size, info.mode, info.mtime = size, 0o644, MTIME
        entries.append((info, pools.cut(pools.text, rng, size)))
        made += size
    libraries = max(1, files // 2000)
    make_dirs(top + "/lib")
    left = content - made
    for j in range(libraries):
        size = left // (libraries - j)
        info = tarfile.TarInfo("%s/lib/libbench%03d.so" % (top, j))
        info.size, info.mode, info.mtime = size, 0o755, MTIME
        entries.append((info, size))  # generated when written: a library may be hundreds of MiB
        left -= size
    return entries


def write_layer(blobs, entries, pools, rng):
    tar_path = os.path.join(blobs, "layer.tar")
    diff = hashlib.sha256()
    with open(tar_path, "wb") as raw:
        class Hashing:
            def write(self, data):
                diff.update(data)
                raw.write(data)
                return len(data)
        with tarfile.open(fileobj=Hashing(), mode="w|", format=tarfile.PAX_FORMAT) as tar:
            for info, data in entries:
                if isinstance(data, int):
                    with tempfile.TemporaryFile(dir=blobs) as big:
                        left = data
                        while left > 0:
                            take = min(left, 16 << 20)
                            big.write(pools.library(rng, take))
                            left -= take
                        big.seek(0)
                        tar.addfile(info, big)
                else:
                    tar.addfile(info, None if data is None else io.BytesIO(data))
    gz_path = tar_path + ".gz"
    run("igzip -c -1 %s > %s" % (tar_path, gz_path))  # the build's speed only; any gzip pulls alike
    os.unlink(tar_path)
    digest = hashlib.sha256()
    with open(gz_path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    name = digest.hexdigest()
    os.rename(gz_path, os.path.join(blobs, name))
    return {"digest": "sha256:" + name, "size": os.path.getsize(os.path.join(blobs, name)),
            "diff_id": "sha256:" + diff.hexdigest()}


def write_blob(blobs, data):
    name = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, name), "wb") as f:
        f.write(data)
    return {"digest": "sha256:" + name, "size": len(data)}


def build_layout(layout, content):
    blobs = os.path.join(layout, "blobs", "sha256")
    os.makedirs(blobs)
    rng = random.Random(content)
    pools = Pools(rng)
    files = max(LAYERS, content * FILES_PER_GIB // GIB)
    described = []
    for index in range(LAYERS):
        entries = layer_entries(index, content // LAYERS, files // LAYERS, pools, rng)
        described.append(write_layer(blobs, entries, pools, rng))
    config = {"architecture": "amd64", "os": "linux", "created": "2023-11-14T22:13:20Z",
              "config": {"Cmd": ["/bin/sh"]},
              "rootfs": {"type": "layers", "diff_ids": [d["diff_id"] for d in described]}}
    config_blob = write_blob(blobs, json.dumps(config, sort_keys=True).encode())
    manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {"mediaType": OCI_CONFIG, **config_blob},
                "layers": [{"mediaType": OCI_LAYER_GZIP, "digest": d["digest"], "size": d["size"]} for d in described]}
    manifest_blob = write_blob(blobs, json.dumps(manifest, sort_keys=True).encode())
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [{"mediaType": OCI_MANIFEST, **manifest_blob,
                                                       "annotations": {"org.opencontainers.image.ref.name": "image"},
                                                       "platform": {"architecture": "amd64", "os": "linux"}}]}, f)
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    return {"files": files, "blobs": [os.path.join(blobs, d["digest"].split(":")[1]) for d in described]}


def ensure_image(work, registry, label, content):
    label = label.lower()  # a repository name is lowercase
    layout = os.path.join(work, "scale-%s.oci" % label)
    described_path = layout + ".json"
    if not os.path.exists(described_path):
        shutil.rmtree(layout, ignore_errors=True)
        print("building scale-%s (%d layers) ..." % (label, LAYERS), flush=True)
        with open(described_path + ".tmp", "w") as f:
            json.dump(build_layout(layout, content), f)
        os.rename(described_path + ".tmp", described_path)
    with open(described_path) as f:
        described = json.load(f)
    run("skopeo copy --quiet --dest-tls-verify=false oci:%s:image docker://%s/bench/scale-%s:1"
        % (layout, registry.host, label))
    described["ref"] = "%s/bench/scale-%s:1" % (registry.host, label)
    return described


def measure(banger, image, work, rounds, with_peer):
    cold, warm, peer, rss_max = [], [], [], {}
    for round_ in range(rounds):
        seconds_cold, seconds_warm, fs_bytes, entries = cold_and_warm(banger, image["ref"], work, rss_max)
        cold.append(seconds_cold)
        warm.append(seconds_warm)
        for d in ("state", "cache"):
            shutil.rmtree(os.path.join(work, d), ignore_errors=True)
        if with_peer:
            drop_caches()
            peer.append(peer_pull(image["ref"], os.path.join(work, "peer"), fs_bytes, entries))
            shutil.rmtree(os.path.join(work, "peer"), ignore_errors=True)
        print("  round %d: banger cold %.2fs warm %.2fs%s" % (
            round_ + 1, cold[-1], warm[-1], ", peer %.2fs" % peer[-1] if peer else ""), flush=True)
    return {"cold": median(cold), "warm": median(warm), "peer": median(peer) if peer else None, "rss": rss_max}


def table(rows):
    lines = ["| image | content | files | banger cold | s / GiB | banger warm | peer | peer / cold | peak RSS (KiB) |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        peer = "%.2f s | %.1fx" % (r["peer"], r["peer"] / r["cold"]) if r["peer"] else "- | -"
        lines.append("| scale-%s | %.2f GiB | %d | %.2f s | %.2f | %.2f s | %s | %s |" % (
            r["label"], r["content"] / GIB, r["files"], r["cold"], r["cold"] / (r["content"] / GIB), r["warm"], peer,
            ", ".join("%s %d" % kv for kv in sorted(r["rss"].items()))))
    return "\n".join(lines)


def write_section(path, args, rows):
    old = open(path).read() if os.path.exists(path) else "# Benchmark results\n"
    kept, _, ours = old.partition("\n" + SECTION + "\n")
    kept = kept.rstrip("\n")
    after = ours.find("\n## ")  # the sections after this one stay
    after = ours[after:] if after >= 0 else ""
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    with open(path, "w") as out:
        out.write(kept + "\n\n" + SECTION + "\n\n")
        out.write("- date: %s\n- machine: %s, %d cores, kernel %s\n- command: `%s`\n- rounds: %d, medians; "
                  "page cache dropped before each cold run\n\n" % (
                      datetime.date.today().isoformat(), cpu, os.cpu_count(), os.uname().release,
                      " ".join(sys.argv), args.rounds))
        out.write(table(rows) + "\n")
        out.write(after)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--banger", required=True)
    parser.add_argument("--sizes", default="256M,1G,4G")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--work", default=None)
    parser.add_argument("--results")
    parser.add_argument("--no-peer", action="store_true", help="banger only (the peer takes minutes at 4G)")
    args = parser.parse_args()
    banger = os.path.abspath(args.banger)
    sizes = [(label, parse_size(label)) for label in args.sizes.split(",")]
    work = args.work or tempfile.mkdtemp(prefix="banger-scale-")
    os.makedirs(work, exist_ok=True)
    need = int(6.5 * max(size for _, size in sizes))
    free = shutil.disk_usage(work).free
    if free < need:
        raise SystemExit("scale_bench: %s has %.1f GB free; the %s image needs about %.1f GB "
                         "(layouts, registry, cache, spool, image and the peer's copies)"
                         % (work, free / 1e9, sizes[-1][0], need / 1e9))
    registry = Registry(work)
    rows = []
    try:
        for label, content in sizes:
            image = ensure_image(work, registry, label, content)
            print("scale-%s: %d files" % (label, image["files"]), flush=True)
            row = measure(banger, image, work, args.rounds, not args.no_peer)
            row.update(label=label, content=content, files=image["files"])
            rows.append(row)
    finally:
        registry.stop()
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print(table(rows))
    if args.results:
        write_section(args.results, args, rows)


if __name__ == "__main__":
    main()
