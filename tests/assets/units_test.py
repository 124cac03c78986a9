#!/usr/bin/python3
"""Checks of banger's guest unit files, OpenRC scripts and modules-load.d file (assets/).

SystemdUnitsTest: each unit parses (sections, known keys, no duplicates), runs the right
binary, is enabled by multi-user.target, and has the ordering docs/architecture.md ("Guest assets") asks for.
SystemdVerifyTest: `systemd-analyze verify` in a temp root holding this machine's units,
stub binaries at the guest paths and banger's units enabled: no warning, no ordering cycle
(without systemd-analyze the test is a skip, which unittest_main.py makes a failure unless
BANGER_ALLOW_SKIPS=1).
OpenRcScriptsTest: the scripts' dependencies, start() behaviour and supervision, by sourcing
them in sh with openrc-run's functions stubbed. ModulesLoadTest: banger-vsock.conf.

Run: /usr/bin/python3 units_test.py [-v] [SystemdUnitsTest|SystemdVerifyTest|OpenRcScriptsTest|ModulesLoadTest]
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

SOURCE_DIR = os.environ.get(
    "BANGER_SOURCE_DIR", os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")))
ASSETS = os.path.join(SOURCE_DIR, "assets")

MARKER = "/var/lib/banger/first-boot-pending"
NETWORK_BOOTSTRAP = "/usr/local/libexec/banger-network-bootstrap"
FIRST_BOOT = "/usr/local/libexec/banger-first-boot"
AGENT = "/usr/local/bin/banger-vsock-agent"
UNITS = {
    "banger-network.service": NETWORK_BOOTSTRAP,
    "banger-first-boot.service": FIRST_BOOT,
    "banger-vsock-agent.service": AGENT,
}

# Every key banger's units use, per section; a typo would only be a warning to systemd.
KNOWN_KEYS = {
    "Unit": {"Description", "Documentation", "DefaultDependencies", "After", "Before", "Wants", "Requires",
             "Conflicts", "ConditionPathExists", "StartLimitIntervalSec"},
    "Service": {"Type", "RemainAfterExit", "ExecStart", "StandardOutput", "StandardError", "TimeoutStartSec",
                "Restart", "RestartSec", "NoNewPrivileges"},
    "Install": {"WantedBy"},
}
LIST_KEYS = {"After", "Before", "Wants", "Requires", "Conflicts", "WantedBy", "Documentation"}


def parse_unit(path):
    """{section: {key: value}} (list keys: a list of words), failing on anything odd."""
    sections = {}
    current = None
    with open(path) as f:
        for number, raw in enumerate(f, 1):
            line = raw.strip()
            where = f"{os.path.basename(path)}:{number}"
            if not line or line[0] in "#;":
                continue
            if line.endswith("\\"):
                raise AssertionError(f"{where}: continuation lines are not used here")
            if line.startswith("["):
                match = re.fullmatch(r"\[([A-Za-z]+)\]", line)
                if not match or match.group(1) not in KNOWN_KEYS or match.group(1) in sections:
                    raise AssertionError(f"{where}: unexpected section {line}")
                current = match.group(1)
                sections[current] = {}
                continue
            if current is None or "=" not in line:
                raise AssertionError(f"{where}: not KEY=VALUE inside a section: {line!r}")
            key, value = (part.strip() for part in line.split("=", 1))
            if key not in KNOWN_KEYS[current]:
                raise AssertionError(f"{where}: unknown key {key} in [{current}]")
            if not value:
                raise AssertionError(f"{where}: empty {key}= (a reset) is not used here")
            if key in LIST_KEYS:
                sections[current].setdefault(key, []).extend(value.split())
            elif key in sections[current]:
                raise AssertionError(f"{where}: {key} set twice")
            else:
                sections[current][key] = value
    return sections


def words(unit, section, key):
    return unit.get(section, {}).get(key, [])


class SystemdUnitsTest(unittest.TestCase):
    def setUp(self):
        self.units = {name: parse_unit(os.path.join(ASSETS, "systemd", name)) for name in UNITS}

    def test_every_unit_runs_its_binary_and_is_enabled_by_multi_user(self):
        for name, binary in UNITS.items():
            with self.subTest(unit=name):
                unit = self.units[name]
                self.assertEqual(set(unit), {"Unit", "Service", "Install"})
                self.assertTrue(unit["Unit"].get("Description"))
                self.assertEqual(unit["Service"]["ExecStart"], binary)
                self.assertEqual(words(unit, "Install", "WantedBy"), ["multi-user.target"])
                # No hard dependency on udev (or anything else): container images lack it.
                for key in ("Requires", "Wants"):
                    for dependency in words(unit, "Unit", key):
                        self.assertNotIn("udev", dependency)
                self.assertNotIn("Requires", unit["Unit"])

    def test_network_is_early_and_stays_active(self):
        unit = self.units["banger-network.service"]
        self.assertEqual(unit["Service"]["Type"], "oneshot")
        # Active after a run that changed nothing (no banger.* parameters, exit 0).
        self.assertEqual(unit["Service"]["RemainAfterExit"], "yes")
        self.assertEqual(unit["Unit"]["DefaultDependencies"], "no")
        for target in ("network-pre.target", "network.target"):
            self.assertIn(target, words(unit, "Unit", "Before"))
        self.assertIn("network-pre.target", words(unit, "Unit", "Wants"))
        after = words(unit, "Unit", "After")
        self.assertIn("systemd-modules-load.service", after)
        # Writes /etc: after the root file system is remounted read-write.
        self.assertIn("systemd-remount-fs.service", after)
        # Without default dependencies, it must still stop for shutdown.
        self.assertIn("shutdown.target", words(unit, "Unit", "Conflicts"))
        self.assertIn("shutdown.target", words(unit, "Unit", "Before"))

    def test_first_boot_runs_once_after_the_network(self):
        unit = self.units["banger-first-boot.service"]
        self.assertEqual(unit["Unit"]["ConditionPathExists"], MARKER)
        self.assertEqual(unit["Service"]["Type"], "oneshot")
        self.assertNotIn("RemainAfterExit", unit["Service"])
        for name in ("network-online.target", "banger-network.service"):
            self.assertIn(name, words(unit, "Unit", "After"))
        self.assertIn("network-online.target", words(unit, "Unit", "Wants"))
        self.assertEqual(unit["Service"]["StandardOutput"], "journal+console")

    def test_agent_restarts_on_failure(self):
        unit = self.units["banger-vsock-agent.service"]
        self.assertIn("banger-network.service", words(unit, "Unit", "After"))
        self.assertEqual(unit["Service"]["Restart"], "on-failure")
        self.assertEqual(unit["Service"]["RestartSec"], "2")
        self.assertEqual(unit["Unit"].get("StartLimitIntervalSec"), "0", "restarts would stop after 5 failures")


class SystemdVerifyTest(unittest.TestCase):
    def setUp(self):
        self.analyze = shutil.which("systemd-analyze")
        if not self.analyze:
            self.skipTest("systemd-analyze is not installed")
        units = next((d for d in ("/usr/lib/systemd/system", "/lib/systemd/system")
                      if os.path.exists(os.path.join(d, "sysinit.target"))), None)
        if not units:
            self.skipTest("no systemd units on this machine to verify against")
        self.root = tempfile.mkdtemp(prefix="banger-units-test.", dir=os.getcwd())
        self.addCleanup(shutil.rmtree, self.root, True)
        shutil.copytree(units, os.path.join(self.root, "usr/lib/systemd/system"), symlinks=True)
        system = os.path.join(self.root, "etc/systemd/system")
        os.makedirs(os.path.join(system, "multi-user.target.wants"))
        for name in UNITS:
            shutil.copy(os.path.join(ASSETS, "systemd", name), system)
            os.symlink(f"/etc/systemd/system/{name}", os.path.join(system, "multi-user.target.wants", name))
        for binary in UNITS.values():
            path = os.path.join(self.root, binary.lstrip("/"))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write("#!/bin/sh\nexit 0\n")
            os.chmod(path, 0o755)

    def verify(self, *names):
        result = subprocess.run([self.analyze, "verify", "--man=no", f"--root={self.root}", *names],
                                capture_output=True, text=True, timeout=120)
        output = result.stdout + result.stderr
        self.assertEqual(result.returncode, 0, output)
        # Unknown keys, bad values and ordering cycles are warnings with exit status 0.
        for line in output.splitlines():
            self.assertNotIn("banger", line, output)
            self.assertNotIn("cycle", line, output)

    def test_units_verify(self):
        self.verify(*[os.path.join(self.root, "etc/systemd/system", name) for name in UNITS])

    def test_boot_transaction_has_no_ordering_cycle(self):
        self.verify("multi-user.target")


OPENRC_STUBS = r"""
need() { echo "need $*"; }
use() { echo "use $*"; }
want() { echo "want $*"; }
after() { echo "after $*"; }
before() { echo "before $*"; }
provide() { echo "provide $*"; }
keyword() { echo "keyword $*"; }
config() { :; }
ebegin() { echo "ebegin $*"; }
einfo() { echo "einfo $*"; }
eend() { echo "eend $*"; return "$1"; }
RC_SVCNAME=${SCRIPT##*/}
"""


class OpenRcScriptsTest(unittest.TestCase):
    def source(self, name, body, env=None, path=None):
        """Runs body in sh after sourcing assets/openrc/<name> with openrc-run's functions
        stubbed; returns (status, stdout lines)."""
        script = os.path.join(ASSETS, "openrc", name)
        environment = {"PATH": path or os.environ["PATH"], "SCRIPT": script}
        environment.update(env or {})
        result = subprocess.run(["/bin/sh", "-c", OPENRC_STUBS + '. "$SCRIPT"\n' + body], env=environment,
                                capture_output=True, text=True, timeout=60)
        return result.returncode, result.stdout.splitlines(), result.stderr

    def depends(self, name):
        status, lines, stderr = self.source(name, "depend")
        self.assertEqual(status, 0, stderr)
        deps = {}
        for line in lines:
            kind, *names = line.split()
            deps.setdefault(kind, []).extend(names)
        return deps

    def scratch(self):
        directory = tempfile.mkdtemp(prefix="banger-openrc-test.", dir=os.getcwd())
        self.addCleanup(shutil.rmtree, directory, True)
        return directory

    def stub(self, directory, name, status):
        path = os.path.join(directory, name)
        with open(path, "w") as f:
            f.write(f'#!/bin/sh\necho "$0 ran marker=${{BANGER_FIRST_BOOT_MARKER:-}}" >>"{directory}/ran"\n'
                    f"exit {status}\n")
        os.chmod(path, 0o755)
        return path

    def ran(self, directory):
        path = os.path.join(directory, "ran")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return f.read().splitlines()

    def test_openrc_run_scripts(self):
        for name in ("banger-network", "banger-first-boot", "banger-vsock-agent"):
            with self.subTest(script=name), open(os.path.join(ASSETS, "openrc", name)) as f:
                self.assertEqual(f.readline(), "#!/sbin/openrc-run\n")
                self.assertIn("depend()", f.read())

    def test_dependencies(self):
        network = self.depends("banger-network")
        # Nothing "need"ed: Alpine's and Debian's service names differ, and a missing need
        # would stop the service from starting.
        self.assertNotIn("need", network)
        self.assertIn("net", network["before"])
        self.assertIn("networking", network["before"])
        first_boot = self.depends("banger-first-boot")
        self.assertNotIn("need", first_boot, "Debian's OpenRC has no 'net'")
        self.assertIn("banger-network", first_boot["after"])
        self.assertIn("banger-network", first_boot["use"])
        self.assertIn("net", first_boot["after"])
        agent = self.depends("banger-vsock-agent")
        self.assertNotIn("need", agent)
        self.assertIn("banger-network", agent["after"])

    def test_default_paths(self):
        status, lines, stderr = self.source(
            "banger-first-boot", 'echo "$banger_first_boot"; echo "$banger_first_boot_marker"')
        self.assertEqual((status, lines), (0, [FIRST_BOOT, MARKER]), stderr)
        status, lines, stderr = self.source("banger-network", 'echo "$banger_network_bootstrap"')
        self.assertEqual((status, lines), (0, [NETWORK_BOOTSTRAP]), stderr)
        status, lines, stderr = self.source("banger-vsock-agent", 'echo "$command"; echo "$pidfile"')
        self.assertEqual((status, lines), (0, [AGENT, "/run/banger-vsock-agent.pid"]), stderr)

    def test_first_boot_start(self):
        directory = self.scratch()
        marker = os.path.join(directory, "first-boot-pending")
        env = {"banger_first_boot_marker": marker}
        # Without the marker: success at once, nothing run.
        env["banger_first_boot"] = self.stub(directory, "first-boot-ok", 0)
        status, lines, stderr = self.source("banger-first-boot", "start", env)
        self.assertEqual(status, 0, stderr)
        self.assertEqual(self.ran(directory), [])
        # With it: runs the script (told the marker) and reports its status.
        with open(marker, "w"):
            pass
        status, lines, stderr = self.source("banger-first-boot", "start", env)
        self.assertEqual(status, 0, stderr)
        self.assertEqual(self.ran(directory), [f"{env['banger_first_boot']} ran marker={marker}"])
        env["banger_first_boot"] = self.stub(directory, "first-boot-fails", 1)
        status, lines, stderr = self.source("banger-first-boot", "start", env)
        self.assertNotEqual(status, 0)
        self.assertTrue(any(line.startswith("eend 1") for line in lines), lines)

    def test_network_start(self):
        directory = self.scratch()
        for exit_status in (0, 1):
            with self.subTest(exit_status=exit_status):
                helper = self.stub(directory, f"bootstrap-{exit_status}", exit_status)
                status, lines, stderr = self.source("banger-network", "start", {"banger_network_bootstrap": helper})
                self.assertEqual(status, exit_status, stderr)
                self.assertIn(f"{helper} ran marker=", self.ran(directory))
        status, lines, stderr = self.source("banger-network", "stop")
        self.assertEqual(status, 0, stderr)

    def test_agent_supervision(self):
        directory = self.scratch()
        show = 'echo "supervisor=${supervisor:-} delay=${respawn_delay:-} max=${respawn_max:-} bg=${command_background:-}"'
        # supervise-daemon on the PATH: supervised, respawned every 2 s without limit.
        self.stub(directory, "supervise-daemon", 0)
        status, lines, stderr = self.source("banger-vsock-agent", show, path=directory)
        self.assertEqual((status, lines), (0, ["supervisor=supervise-daemon delay=2 max=0 bg="]), stderr)
        # Without it: start-stop-daemon in the background with the pidfile.
        empty = os.path.join(directory, "empty")
        os.mkdir(empty)
        status, lines, stderr = self.source("banger-vsock-agent", show, path=empty)
        self.assertEqual((status, lines), (0, ["supervisor= delay= max= bg=yes"]), stderr)


class ModulesLoadTest(unittest.TestCase):
    def test_vsock_modules(self):
        with open(os.path.join(ASSETS, "modules-load", "banger-vsock.conf")) as f:
            lines = [line.rstrip("\n") for line in f]
        modules = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith(("#", ";"))]
        self.assertIn("vmw_vsock_virtio_transport", modules)
        for module in modules:
            self.assertRegex(module, r"^[A-Za-z0-9_-]+$", "one module name per line")
        self.assertTrue(any(line.startswith("#") for line in lines), "a comment says why")


if __name__ == "__main__":
    import unittest_main
    unittest_main.main()
