"""The trust boundaries and the broker's rooms, checked on the source tree
(docs/architecture.md, "The broker's rooms"): a file includes only its own folder and the
folders below it, no project header is part of an include cycle, and below the command
line nothing reads the process environment or writes to a stream. Each rule is also
shown failing on a small tree that breaks it."""
import os
import re
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "assets"))
from unittest_main import main  # noqa: E402

SOURCE_DIR = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))

# Folder -> the folders its files may include (besides its own). The helpers see nothing
# of the broker or of each other; inside the broker each room sees only those below it.
ALLOWED = {
    "base": set(),
    "ipc": {"base"},
    "security": {"base", "ipc"},
    "fetcher": {"base", "ipc", "security"},
    "unpacker": {"base", "ipc", "security", "assets"},
    "imager": {"base", "ipc", "security"},
    "assets": set(),
    "assets/agent": {"base"},  # compiles in base/fd.cpp and base/result.cpp only
    "broker/store": {"base", "ipc"},
    "broker/host": {"base", "ipc", "security", "broker/store"},
    "broker/registry": {"base", "ipc", "security", "broker/store", "broker/host"},
    "broker/trust": {"base"},  # the policy and the verdict: bytes in, a verdict out
    "broker/pull": {"base", "ipc", "security", "broker/store", "broker/host", "broker/registry", "broker/trust"},
    "broker/cli": {"base", "ipc", "security", "broker/store", "broker/host", "broker/registry", "broker/trust",
                   "broker/pull"},
    "broker/daemon": {"base", "ipc", "security", "broker/store", "broker/host", "broker/registry", "broker/trust",
                      "broker/pull", "broker/cli"},
    "broker": {"broker/cli"},  # main.cpp
}
BELOW_THE_COMMAND_LINE = ("broker/store", "broker/host", "broker/registry", "broker/trust", "broker/pull")
# What only the command line may do in the broker: read the environment, print.
FORBIDDEN_BELOW = [
    (re.compile(r"\b(std::)?(secure_)?getenv\s*\(|\benviron\b"), "reads the process environment"),
    (re.compile(r"\bstd::(cout|cerr|clog)\b|#include\s*<iostream>"), "writes to a standard stream"),
    (re.compile(r"\bstd::ostream\b|#include\s*<ostream>"), "prints to a stream"),
]
INCLUDE = re.compile(r'^\s*#\s*include\s*"([^"]+)"', re.M)
SOURCE_SUFFIXES = (".h", ".cpp", ".c")


def room_of(path):
    """The longest known folder a file is in, or None."""
    folder = os.path.dirname(path)
    while folder:
        if folder in ALLOWED:
            return folder
        folder = os.path.dirname(folder)
    return None


def sources(root):
    for folder in ALLOWED:
        base = os.path.join(root, folder)
        if not os.path.isdir(base):
            continue
        for name in sorted(os.listdir(base)):
            path = os.path.join(folder, name)
            if name.endswith(SOURCE_SUFFIXES) and os.path.isfile(os.path.join(root, path)):
                yield path


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def violations(root):
    """Every broken rule in the tree at `root`, one line each."""
    found = []
    graph = {}
    for path in sources(root):
        with open(os.path.join(root, path), encoding="utf-8", errors="replace") as f:
            text = f.read()
        room = room_of(path)
        includes = [i for i in INCLUDE.findall(text) if "/" in i and os.path.exists(os.path.join(root, i))]
        graph[path] = includes
        for included in includes:
            target = room_of(included)
            if target is None:
                found.append(f"{path}: includes {included}, which is in no known room")
            elif target != room and target not in ALLOWED[room]:
                found.append(f"{path}: {room} includes {included} from {target}, which it may not see")
        if room in BELOW_THE_COMMAND_LINE:
            code = strip_comments(text)
            for pattern, what in FORBIDDEN_BELOW:
                if pattern.search(code):
                    found.append(f"{path}: {what}, which only broker/cli may")
    found.extend(cycles(graph))
    return found


def cycles(graph):
    """One line per include cycle among project headers (depth-first search)."""
    found, state = [], {}

    def visit(node, stack):
        state[node] = "open"
        stack.append(node)
        for nxt in graph.get(node, []):
            if state.get(nxt) == "open":
                found.append("include cycle: " + " -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, stack)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [])
    return found


class Layering(unittest.TestCase):
    def test_the_tree_follows_its_layers(self):
        self.assertEqual(violations(SOURCE_DIR), [])

    def test_every_source_folder_is_a_known_room(self):
        unknown = []
        for top in ("base", "ipc", "security", "fetcher", "unpacker", "imager", "broker"):
            for folder, _, files in os.walk(os.path.join(SOURCE_DIR, top)):
                rel = os.path.relpath(folder, SOURCE_DIR)
                if any(f.endswith(SOURCE_SUFFIXES) for f in files) and rel not in ALLOWED:
                    unknown.append(rel)
        self.assertEqual(unknown, [], "a new folder needs its place in ALLOWED (and in docs/architecture.md)")


class TheBrokerBinary(unittest.TestCase):
    """Invariant I1: the broker never decompresses, parses tar or writes ext4 itself."""

    def test_links_no_library_that_reads_or_writes_layers(self):
        banger = os.path.join(os.environ.get("BANGER_BIN_DIR", os.path.join(SOURCE_DIR, "build", "bin")), "banger")
        self.assertTrue(os.path.exists(banger), banger + " is not built")
        out = __import__("subprocess").run(["readelf", "-d", banger], capture_output=True, text=True, check=True).stdout
        needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)
        self.assertTrue(needed, out)
        for forbidden in ("libarchive", "libisal", "libext2fs", "libz.", "libcurl"):
            self.assertFalse([n for n in needed if n.startswith(forbidden)], f"banger links {forbidden}: {needed}")


class TheCheckCatches(unittest.TestCase):
    """Each rule, broken on purpose in a small tree."""

    def tree(self, files):
        root = tempfile.mkdtemp(prefix="banger-layering-")
        self.addCleanup(lambda: __import__("shutil").rmtree(root))
        for path, text in files.items():
            os.makedirs(os.path.join(root, os.path.dirname(path)), exist_ok=True)
            with open(os.path.join(root, path), "w") as f:
                f.write(text)
        return root

    def test_a_lower_room_including_a_higher_one(self):
        root = self.tree({"broker/store/a.h": '#include "broker/pull/b.h"\n', "broker/pull/b.h": "\n"})
        self.assertEqual(violations(root), [
            "broker/store/a.h: broker/store includes broker/pull/b.h from broker/pull, which it may not see"])

    def test_a_helper_including_the_broker(self):
        root = self.tree({"unpacker/a.cpp": '#include "broker/store/b.h"\n', "broker/store/b.h": "\n"})
        self.assertEqual(len(violations(root)), 1)

    def test_an_include_cycle(self):
        root = self.tree({"broker/pull/a.h": '#include "broker/pull/b.h"\n',
                          "broker/pull/b.h": '#include "broker/pull/a.h"\n'})
        self.assertEqual(violations(root), ["include cycle: broker/pull/a.h -> broker/pull/b.h -> broker/pull/a.h"])

    def test_the_environment_or_a_stream_below_the_command_line(self):
        root = self.tree({"broker/host/a.cpp": 'int f() { return getenv("HOME") != 0; }\n',
                          "broker/pull/b.cpp": "#include <iostream>\nvoid g() { std::cerr << 1; }\n",
                          "broker/cli/c.cpp": 'int h() { return getenv("HOME") != 0; }\n'})
        self.assertEqual(violations(root), [
            "broker/host/a.cpp: reads the process environment, which only broker/cli may",
            "broker/pull/b.cpp: writes to a standard stream, which only broker/cli may"])

    def test_a_comment_is_no_violation(self):
        root = self.tree({"broker/host/a.cpp": "// the CLI calls getenv(), not this room\n"})
        self.assertEqual(violations(root), [])


if __name__ == "__main__":
    main()
