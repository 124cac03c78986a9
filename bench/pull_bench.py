#!/usr/bin/python3
"""Cold and warm `banger image pull` against the peer pipeline (skopeo copy -> umoci
unpack -> mkfs.ext4 -d), measured in one run on this machine, alternating the two.

    bench/pull_bench.py --banger BUILD/bin/banger [--rounds 3] [--results bench/RESULTS.md]
                        [--quick] [--baseline OLD_BUILD/bin/banger]

Images (built here, pushed with skopeo to a loopback docker-registry):
  bookworm-1   mmdebstrap minbase + systemd, one gzip layer (level 6)
  bookworm-3   the same split into three layers with whiteouts and an opaque dir
  big-1g       1 GiB of incompressible file data in 8 files
  small-200k   200 000 small files in 400 directories
Floors measured on the same layer blobs: igzip -dc, gzip -dc, openssl dgst -sha256.
Prints medians and ratios; with --results writes them as Markdown. Not a test: it
asserts nothing and never runs in the suite.
"""
import argparse
import datetime
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "tests", "fixtures")
SCALE_SECTION = "## Scale image and size curve"  # scale_bench.py writes it
TOOLS = [("mmdebstrap", "mmdebstrap"), ("skopeo", "skopeo"), ("umoci", "umoci"), ("mkfs.ext4", "e2fsprogs"),
         ("igzip", "isal"), ("gzip", "gzip"), ("openssl", "openssl"), ("docker-registry", "docker-registry"),
         ("time", "time")]


def run(cmd, **kw):
    return subprocess.run(cmd, shell=True, check=True, **kw)


def timed(cmd):
    start = time.monotonic()
    done = subprocess.run(cmd, shell=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise SystemExit("bench: failed (%d): %s\n%s" % (done.returncode, cmd, done.stderr[-2000:]))
    return time.monotonic() - start


def drop_caches():
    # Cold means the registry's and the cache's files are not in the page cache either.
    subprocess.run("sync; echo 3 > /proc/sys/vm/drop_caches", shell=True, check=False)


class Registry:
    def __init__(self, work):
        self.proc = subprocess.Popen(["/usr/bin/python3", os.path.join(FIXTURES, "registry.py"), "--root",
                                      os.path.join(work, "registry")], stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        self.host = "127.0.0.1:" + line.split("port=")[1].strip()

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def synthetic_tar(path, kind):
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        if kind == "big-1g":
            for i in range(8):
                info = tarfile.TarInfo("data/blob-%d" % i)
                info.size = 128 << 20
                info.mtime = 1700000000
                with open("/dev/urandom", "rb") as rnd:
                    tar.addfile(info, io.BufferedReader(io.FileIO(rnd.fileno(), closefd=False), 1 << 20))
        else:
            for d in range(400):
                info = tarfile.TarInfo("files/d%03d" % d)
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                info.mtime = 1700000000
                tar.addfile(info)
                for f in range(500):
                    data = ("file %d/%d\n" % (d, f)).encode() * 8
                    info = tarfile.TarInfo("files/d%03d/f%04d" % (d, f))
                    info.size = len(data)
                    info.mtime = 1700000000
                    tar.addfile(info, io.BytesIO(data))


def build_images(work, registry, quick):
    images = {}
    rootfs = os.path.join(work, "bookworm.tar")
    print("building the bookworm rootfs with mmdebstrap ...", flush=True)
    run("mmdebstrap --quiet --variant=minbase --include=systemd,systemd-sysv,udev,iproute2 bookworm " + rootfs)
    sources = [("bookworm-1", rootfs, 1, 6), ("bookworm-3", rootfs, 3, 6)]
    if not quick:
        for kind in ("big-1g", "small-200k"):
            tar = os.path.join(work, kind + ".tar")
            print("building %s ..." % kind, flush=True)
            synthetic_tar(tar, kind)
            sources.append((kind, tar, 1, 1))
    for name, tar, layers, level in sources:
        layout = os.path.join(work, name + ".oci")
        out = subprocess.run(["/usr/bin/python3", os.path.join(FIXTURES, "rootfs_image.py"), "--rootfs", tar,
                              "--out", layout, "--tag", "image", "--layers", str(layers), "--level", str(level)],
                             check=True, capture_output=True, text=True).stdout
        described = json.loads(out)
        run("skopeo copy --quiet --dest-tls-verify=false oci:%s:image docker://%s/bench/%s:1"
            % (layout, registry.host, name))
        images[name] = {"ref": "%s/bench/%s:1" % (registry.host, name),
                        "blobs": [os.path.join(layout, "blobs", "sha256", l["digest"].split(":")[1])
                                  for l in described["layers"]]}
    return images


def banger_pull(banger, ref, state, cache):
    env = dict(os.environ, BANGER_STATE_DIR=state, BANGER_CACHE_DIR=cache)
    start = time.monotonic()
    proc = subprocess.run(["/usr/bin/time", "-f", "%M", banger, "image", "pull", "--json", "--name", "b", ref],
                          env=env, check=True, capture_output=True, text=True)
    elapsed = time.monotonic() - start
    events = [json.loads(line) for line in proc.stdout.strip().splitlines()]
    result = events[-1]
    entries = max([e.get("entries", 0) for e in events if e.get("phase") == "unpacked"] or [0])
    rss = dict(result.get("peak_rss_kib", {}))
    rss["banger"] = int(proc.stderr.strip().splitlines()[-1])  # includes waited-for helpers: an upper bound
    return elapsed, result["filesystem_bytes"], rss, entries


def cold_and_warm(banger, ref, work, rss_max):
    """A cold pull (state and cache new, page cache dropped), then a warm one (state new):
    (cold seconds, warm seconds, filesystem bytes, entries); each process's peak RSS is
    folded into rss_max."""
    state, cache = os.path.join(work, "state"), os.path.join(work, "cache")
    for d in (state, cache):
        shutil.rmtree(d, ignore_errors=True)
    drop_caches()
    cold, fs_bytes, rss, entries = banger_pull(banger, ref, state, cache)
    shutil.rmtree(state)
    warm, _, warm_rss, _ = banger_pull(banger, ref, state, cache)
    for k, v in list(rss.items()) + list(warm_rss.items()):
        rss_max[k] = max(rss_max.get(k, 0), v)
    return cold, warm, fs_bytes, entries


def peer_pull(ref, work, size, entries):
    # The same size as banger's filesystem, and (as banger sizes it) room for every entry:
    # mkfs's default of one inode per 16 KiB is too few for many small files.
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)
    inodes = max(entries * 5 // 4 + 1024, size // 16384)
    return timed("skopeo copy --quiet --src-tls-verify=false docker://{ref} oci:{w}/oci:image && "
                 "umoci unpack --image {w}/oci:image {w}/bundle && truncate -s {size} {w}/peer.ext4 && "
                 "mkfs.ext4 -q -F -N {inodes} -d {w}/bundle/rootfs {w}/peer.ext4".format(
                     ref=ref, w=work, size=size, inodes=inodes))


def median(values):
    return statistics.median(values) if values else float("nan")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--banger", required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--results")
    parser.add_argument("--quick", action="store_true", help="only the bookworm images")
    parser.add_argument("--work", default=None)
    parser.add_argument("--baseline", help="another banger (an older build), measured in the same rounds")
    args = parser.parse_args()
    # The tools it runs, checked before the long part: which package has each.
    missing = ["%s (apt-get install -y %s)" % (tool, package) for tool, package in TOOLS if not shutil.which(tool)]
    if missing:
        raise SystemExit("bench: missing " + ", ".join(missing))
    banger = os.path.abspath(args.banger)
    baseline = os.path.abspath(args.baseline) if args.baseline else None
    work = args.work or tempfile.mkdtemp(prefix="banger-bench-")
    registry = Registry(work)
    rows = []
    try:
        images = build_images(work, registry, args.quick)
        for name, image in images.items():
            cold, warm, peer, rss_max = [], [], [], {}
            base_cold, base_warm = [], []
            for round_ in range(args.rounds):
                seconds_cold, seconds_warm, fs_bytes, entries = cold_and_warm(banger, image["ref"], work, rss_max)
                cold.append(seconds_cold)
                warm.append(seconds_warm)
                if baseline:
                    seconds_cold, seconds_warm, _, _ = cold_and_warm(baseline, image["ref"], work, {})
                    base_cold.append(seconds_cold)
                    base_warm.append(seconds_warm)
                drop_caches()
                peer.append(peer_pull(image["ref"], os.path.join(work, "peer"), fs_bytes, entries))
                print("  %s round %d: banger cold %.2fs warm %.2fs, peer %.2fs%s"
                      % (name, round_ + 1, cold[-1], warm[-1], peer[-1],
                         ", baseline cold %.2fs warm %.2fs" % (base_cold[-1], base_warm[-1]) if baseline else ""),
                      flush=True)
            shutil.rmtree(os.path.join(work, "peer"), ignore_errors=True)
            blobs = " ".join(image["blobs"])
            floors = {
                "igzip": median([timed("for b in %s; do igzip -dc $b; done > /dev/null" % blobs) for _ in range(3)]),
                "gzip": median([timed("for b in %s; do gzip -dc $b; done > /dev/null" % blobs) for _ in range(3)]),
                "sha256": median([timed("openssl dgst -sha256 %s" % blobs) for _ in range(3)]),
            }
            rows.append({"image": name, "cold": median(cold), "warm": median(warm), "peer": median(peer),
                         "floors": floors, "rss_kib": rss_max,
                         "baseline": (median(base_cold), median(base_warm)) if baseline else None})
    finally:
        registry.stop()
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)

    lines = ["| image | banger cold | banger warm | peer | peer / cold | warm / cold | igzip -dc | cold / "
             "(2.5 x igzip + 0.3 s) | gzip -dc | sha256 | peak RSS (KiB) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        f = r["floors"]
        lines.append("| %s | %.2f s | %.2f s | %.2f s | %.1fx | %.0f%% | %.2f s | %.2f | %.2f s | %.2f s | %s |" % (
            r["image"], r["cold"], r["warm"], r["peer"], r["peer"] / r["cold"], 100 * r["warm"] / r["cold"],
            f["igzip"], r["cold"] / (2.5 * f["igzip"] + 0.3), f["gzip"], f["sha256"],
            ", ".join("%s %d" % kv for kv in sorted(r["rss_kib"].items()))))
    if baseline:
        lines += ["", "| image | banger cold | baseline cold | banger warm | baseline warm |", "|---|---|---|---|---|"]
        for r in rows:
            lines.append("| %s | %.2f s | %.2f s | %.2f s | %.2f s |" % (
                r["image"], r["cold"], r["baseline"][0], r["warm"], r["baseline"][1]))
    table = "\n".join(lines)
    print()
    print(table)
    if args.results:
        # scale_bench.py's section stays (it takes much longer to measure).
        old = open(args.results).read() if os.path.exists(args.results) else ""
        scale = old[old.index(SCALE_SECTION):] if SCALE_SECTION in old else ""
        cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
        with open(args.results, "w") as out:
            out.write("# Benchmark results\n\n")
            out.write("- date: %s\n- machine: %s, %d cores, %s, kernel %s\n- command: `%s`\n- rounds: %d, "
                      "medians; banger and the peer pipeline alternate, page cache dropped before each cold run\n\n"
                      % (datetime.date.today().isoformat(), cpu, os.cpu_count(), platform.platform(),
                         platform.release(), " ".join(sys.argv), args.rounds))
            out.write(table + "\n\n")
            out.write("`banger` RSS is /usr/bin/time's maximum, which covers the helpers it waited for; the "
                      "helpers' own peaks are their VmHWM just before shutdown.\n")
            if scale:
                out.write("\n" + scale)


if __name__ == "__main__":
    main()
