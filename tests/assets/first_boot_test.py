#!/usr/bin/python3
"""Tests of assets/first-boot.sh (installed in guests as /usr/local/libexec/banger-first-boot).

Plan mode: for every distribution ID the script knows, and for ID_LIKE fallbacks, the exact
commands it would run. Run mode: against stub package managers, ssh-keygen, systemctl,
rc-update and rc-service on a PATH made here (the stubs log their argv), under dash, busybox
sh and bash --posix. Lint: sh -n, dash -n, busybox sh -n, bash --posix -n and shellcheck on
first-boot.sh and the OpenRC scripts.

Run: /usr/bin/python3 first_boot_test.py [-v] [PlanTest|RunTest|LintTest]
"""

import os
import shutil
import stat
import subprocess
import sys
import tempfile
import unittest

SOURCE_DIR = os.environ.get(
    "BANGER_SOURCE_DIR", os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")))
ASSETS = os.path.join(SOURCE_DIR, "assets")
SCRIPT = os.path.join(ASSETS, "first-boot.sh")
OPENRC_SCRIPTS = [os.path.join(ASSETS, "openrc", name)
                  for name in ("banger-network", "banger-first-boot", "banger-vsock-agent")]
PREFIX = "banger-first-boot: "
DEFAULT_MARKER = "/var/lib/banger/first-boot-pending"

APT = ["DEBIAN_FRONTEND=noninteractive apt-get update",
       "DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openssh-server"]
PACKAGE_LINES = {
    "apt": APT,
    "apk": ["apk add --no-cache openssh"],
    "dnf": ["dnf install -y openssh-server"],
    "yum": ["yum install -y openssh-server"],
    "microdnf": ["microdnf install -y openssh-server"],
    "pacman": ["pacman -Sy --noconfirm openssh"],
    "zypper": ["zypper --non-interactive install openssh"],
}
# ID -> (package manager line set, ssh service name). The Debian family's unit and init
# script are both called "ssh"; everyone else's "sshd".
DISTROS = {
    "debian": ("apt", "ssh"), "ubuntu": ("apt", "ssh"), "kali": ("apt", "ssh"),
    "raspbian": ("apt", "ssh"), "linuxmint": ("apt", "ssh"), "pop": ("apt", "ssh"),
    "alpine": ("apk", "sshd"),
    "fedora": ("dnf", "sshd"), "rhel": ("dnf", "sshd"), "centos": ("dnf", "sshd"),
    "rocky": ("dnf", "sshd"), "almalinux": ("dnf", "sshd"),
    "arch": ("pacman", "sshd"), "archlinux": ("pacman", "sshd"), "manjaro": ("pacman", "sshd"),
    "opensuse-leap": ("zypper", "sshd"), "opensuse-tumbleweed": ("zypper", "sshd"),
    "suse": ("zypper", "sshd"), "sles": ("zypper", "sshd"),
}
STUBS = ["apt-get", "apk", "dnf", "yum", "microdnf", "pacman", "zypper", "ssh-keygen",
         "systemctl", "rc-update", "rc-service"]

# Logs "[DEBIAN_FRONTEND=x ]name args" and fails when STUB_FAIL names it ("name" or
# "name:first-argument"). Uses no external command: the PATH has nothing else.
STUB = r"""#!/bin/sh
name=${0##*/}
line="$name $*"
if [ -n "${DEBIAN_FRONTEND:-}" ]; then line="DEBIAN_FRONTEND=$DEBIAN_FRONTEND $line"; fi
printf '%s\n' "$line" >>"$STUB_LOG"
for f in ${STUB_FAIL:-}; do
  case $f in
    "$name"|"$name:${1:-}") echo "$name: failing as the test asked" >&2; exit 1 ;;
  esac
done
exit 0
"""


def expected_plan(manager, service, init, marker=DEFAULT_MARKER):
    lines = list(PACKAGE_LINES[manager]) + ["ssh-keygen -A"]
    if init == "systemd":
        lines.append(f"systemctl enable --now {service}")
    else:
        lines += [f"rc-update add {service} default", f"rc-service {service} start"]
    return lines + [f"rm -f {marker}"]


def shells():
    """The shells first-boot.sh must run under: dash (Debian's sh), busybox ash (Alpine's
    sh) and bash in POSIX mode. Each is promised (scripts/install-deps.sh installs them),
    so a missing one fails the test rather than quietly shrinking the coverage."""
    found = []
    for name, argv in (("dash", []), ("busybox", ["sh"]), ("bash", ["--posix"])):
        path = shutil.which(name)
        if path is None:
            raise AssertionError(f"{name} is not installed: the tests run first-boot.sh under dash, busybox ash "
                                 "and bash --posix (scripts/install-deps.sh installs them)")
        found.append([path] + argv)
    return found


class Sandbox:
    """A temp dir with an os-release, a marker, a stub bin dir and a tools dir holding only
    rm (the one external command the script needs besides the ones it is testing)."""

    def __init__(self, testcase):
        self.dir = tempfile.mkdtemp(prefix="banger-first-boot-test.", dir=os.getcwd())
        testcase.addCleanup(shutil.rmtree, self.dir, True)
        self.os_release = os.path.join(self.dir, "os-release")
        self.marker = os.path.join(self.dir, "var", "lib", "banger", "first-boot-pending")
        os.makedirs(os.path.dirname(self.marker))
        with open(self.marker, "w"):
            pass
        self.stubs = os.path.join(self.dir, "stubs")
        self.tools = os.path.join(self.dir, "tools")
        os.mkdir(self.stubs)
        os.mkdir(self.tools)
        os.symlink(shutil.which("rm"), os.path.join(self.tools, "rm"))
        self.log = os.path.join(self.dir, "stub.log")

    def write_os_release(self, text):
        with open(self.os_release, "w", newline="") as f:
            f.write(text)

    def add_stubs(self, *names):
        for name in names:
            path = os.path.join(self.stubs, name)
            with open(path, "w") as f:
                f.write(STUB)
            os.chmod(path, 0o755)

    def stub_calls(self):
        if not os.path.exists(self.log):
            return []
        with open(self.log) as f:
            return f.read().splitlines()

    def run(self, *args, shell=None, env=None):
        environment = {
            "PATH": f"{self.stubs}:{self.tools}",
            "LC_ALL": "C",
            "STUB_LOG": self.log,
            "BANGER_OS_RELEASE": self.os_release,
            "BANGER_FIRST_BOOT_MARKER": self.marker,
        }
        environment.update(env or {})
        environment = {k: v for k, v in environment.items() if v is not None}
        command = (shell or shells()[0]) + [SCRIPT] + list(args)
        return subprocess.run(command, env=environment, capture_output=True, text=True, timeout=60, cwd=self.dir)


class PlanTest(unittest.TestCase):
    def plan(self, os_release, init="systemd", stubs=(), env=None, args=("--plan",), shell=None):
        box = Sandbox(self)
        box.write_os_release(os_release)
        box.add_stubs(*stubs)
        environment = {"BANGER_FIRST_BOOT_INIT": init, "BANGER_FIRST_BOOT_MARKER": DEFAULT_MARKER}
        environment.update(env or {})
        result = box.run(*args, env=environment, shell=shell)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertEqual(box.stub_calls(), [], "plan mode ran a command")
        return result.stdout.splitlines()

    def test_every_listed_id(self):
        for index, (distro, (manager, service)) in enumerate(sorted(DISTROS.items())):
            # Alternate the quoting styles os-release files use.
            value = (distro, f'"{distro}"', f"'{distro}'")[index % 3]
            for init in ("systemd", "openrc"):
                with self.subTest(distro=distro, init=init):
                    lines = self.plan(f'NAME="Some Linux"\nID={value}\nVERSION_ID="1"\n', init=init)
                    self.assertEqual(lines, expected_plan(manager, service, init))

    def test_package_manager_line_per_id(self):
        # The same, stated as the one line that matters per distribution.
        install_line = {"apt": APT[1], "apk": "apk add --no-cache openssh",
                        "dnf": "dnf install -y openssh-server", "pacman": "pacman -Sy --noconfirm openssh",
                        "zypper": "zypper --non-interactive install openssh"}
        for distro, (manager, _) in DISTROS.items():
            with self.subTest(distro=distro):
                self.assertIn(install_line[manager], self.plan(f"ID={distro}\n"))

    def test_id_like_fallbacks(self):
        cases = [
            ('ID=neon\nID_LIKE="ubuntu debian"\n', "apt", "ssh"),
            ("ID=neon\nID_LIKE=ubuntu\n", "apt", "ssh"),
            ("ID=endeavouros\nID_LIKE=arch\n", "pacman", "sshd"),
            ("ID=ol\nID_LIKE=\"fedora\"\n", "dnf", "sshd"),
            ("ID='ol'\nID_LIKE='fedora'\n", "dnf", "sshd"),
            ('ID="amzn"\nID_LIKE="centos rhel fedora"\n', "dnf", "sshd"),
            ('ID="opensuse-microos"\nID_LIKE="suse opensuse opensuse-tumbleweed"\n', "zypper", "sshd"),
            ('ID=postmarketos\nID_LIKE="alpine"\n', "apk", "sshd"),
            # The first known word wins, in order; unknown words are skipped.
            ('ID=mystery\nID_LIKE="gentoo fedora debian"\n', "dnf", "sshd"),
            ('ID=mystery\nID_LIKE="debian fedora"\n', "apt", "ssh"),
            # ID before ID_LIKE, whatever the order of the lines.
            ('ID_LIKE="arch"\nID=ubuntu\n', "apt", "ssh"),
        ]
        for text, manager, service in cases:
            for init in ("systemd", "openrc"):
                with self.subTest(os_release=text, init=init):
                    self.assertEqual(self.plan(text, init=init), expected_plan(manager, service, init))

    def test_os_release_parsing(self):
        real_ubuntu = ('PRETTY_NAME="Ubuntu 24.04.1 LTS"\nNAME="Ubuntu"\nVERSION_ID="24.04"\n'
                       'VERSION="24.04.1 LTS (Noble Numbat)"\nVERSION_CODENAME=noble\nID=ubuntu\nID_LIKE=debian\n'
                       'HOME_URL="https://www.ubuntu.com/"\nUBUNTU_CODENAME=noble\nLOGO=ubuntu-logo\n')
        real_rocky = ('NAME="Rocky Linux"\nVERSION="9.4 (Blue Onyx)"\nID="rocky"\nID_LIKE="rhel centos fedora"\n'
                      'VERSION_ID="9.4"\nPLATFORM_ID="platform:el9"\nANSI_COLOR="0;32"\n'
                      'CPE_NAME="cpe:/o:rocky:rocky:9::baseos"\n')
        real_alpine = ('NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.20.3\nPRETTY_NAME="Alpine Linux v3.20"\n'
                       'HOME_URL="https://alpinelinux.org/"\n')
        cases = [
            (real_ubuntu, "apt", "ssh"),
            (real_rocky, "dnf", "sshd"),
            (real_alpine, "apk", "sshd"),
            # Comments, blank lines, look-alike keys (VARIANT_ID, ID_FOO), no final newline.
            ("# a comment\n\nVARIANT_ID=fedora\nID_FOO=arch\nID=debian", "apt", "ssh"),
            # CRLF line ends.
            ('NAME="X"\r\nID="alpine"\r\n', "apk", "sshd"),
        ]
        for text, manager, service in cases:
            with self.subTest(os_release=text[:40]):
                self.assertEqual(self.plan(text), expected_plan(manager, service, "systemd"))

    def test_rpm_tool_fallbacks(self):
        for stubs, tool in [((), "dnf"), (("dnf", "yum"), "dnf"), (("yum",), "yum"),
                            (("yum", "microdnf"), "yum"), (("microdnf",), "microdnf")]:
            with self.subTest(on_path=stubs):
                self.assertEqual(self.plan("ID=centos\n", stubs=stubs), expected_plan(tool, "sshd", "systemd"))

    def test_init_detected_from_path(self):
        self.assertEqual(self.plan("ID=alpine\n", init=None, stubs=("rc-update", "rc-service")),
                         expected_plan("apk", "sshd", "openrc"))
        self.assertEqual(self.plan("ID=debian\n", init=None, stubs=("systemctl",)),
                         expected_plan("apt", "ssh", "systemd"))

    def test_plan_from_the_environment_and_the_marker_untouched(self):
        box = Sandbox(self)
        box.write_os_release("ID=debian\n")
        box.add_stubs(*STUBS)
        by_flag = box.run("--plan", env={"BANGER_FIRST_BOOT_INIT": "systemd"})
        by_env = box.run(env={"BANGER_FIRST_BOOT_INIT": "systemd", "BANGER_FIRST_BOOT_PLAN": "1"})
        self.assertEqual(by_flag.returncode, 0, by_flag.stderr)
        self.assertEqual(by_env.returncode, 0, by_env.stderr)
        self.assertEqual(by_flag.stdout, by_env.stdout)
        self.assertEqual(by_flag.stdout.splitlines(), expected_plan("apt", "ssh", "systemd", box.marker))
        self.assertTrue(os.path.exists(box.marker), "plan mode removed the marker")
        self.assertEqual(box.stub_calls(), [])
        # Without a marker the plan is the same, and no marker appears.
        os.unlink(box.marker)
        again = box.run("--plan", env={"BANGER_FIRST_BOOT_INIT": "systemd"})
        self.assertEqual(again.stdout, by_flag.stdout)
        self.assertFalse(os.path.exists(box.marker))

    def test_same_plan_under_every_shell(self):
        for shell in shells():
            with self.subTest(shell=shell):
                self.assertEqual(self.plan('ID=neon\nID_LIKE="ubuntu debian"\n', init="openrc", shell=shell),
                                 expected_plan("apt", "ssh", "openrc"))

    def test_unknown_distribution_in_plan_mode(self):
        box = Sandbox(self)
        box.write_os_release("ID=plan9\n")
        result = box.run("--plan", env={"BANGER_FIRST_BOOT_INIT": "systemd"})
        self.assertEqual(result.returncode, 3)
        self.assertEqual(result.stdout, "")
        self.assertIn("ID=plan9", result.stderr)


class RunTest(unittest.TestCase):
    def box(self, os_release, stubs):
        box = Sandbox(self)
        box.write_os_release(os_release)
        box.add_stubs(*stubs)
        return box

    def assert_logged_to_console(self, result, commands):
        lines = result.stdout.splitlines()
        self.assertTrue(lines)
        for line in lines:
            self.assertTrue(line.startswith(PREFIX), f"unprefixed console line {line!r}")
        for command in commands:
            self.assertIn(f"{PREFIX}running: {command}", lines)

    def test_installs_enables_and_removes_the_marker(self):
        # (os-release, stubs present, expected stub calls); init is detected from the PATH.
        systemd = ("systemctl",)
        openrc = ("rc-update", "rc-service")
        common = ("apt-get", "apk", "dnf", "yum", "pacman", "zypper", "ssh-keygen")
        cases = [
            ("ID=debian\n", common + systemd, expected_plan("apt", "ssh", "systemd")[:-1]),
            ('ID=neon\nID_LIKE="ubuntu debian"\n', common + systemd, expected_plan("apt", "ssh", "systemd")[:-1]),
            ("ID=debian\n", common + openrc, expected_plan("apt", "ssh", "openrc")[:-1]),
            ("ID=alpine\n", common + openrc, expected_plan("apk", "sshd", "openrc")[:-1]),
            ('ID="fedora"\n', common + systemd, expected_plan("dnf", "sshd", "systemd")[:-1]),
            ("ID=endeavouros\nID_LIKE=arch\n", common + systemd, expected_plan("pacman", "sshd", "systemd")[:-1]),
            ('ID="opensuse-tumbleweed"\nID_LIKE="opensuse suse"\n', common + systemd,
             expected_plan("zypper", "sshd", "systemd")[:-1]),
        ]
        for shell in shells():
            for text, stubs, calls in cases:
                with self.subTest(shell=shell, os_release=text, stubs=stubs):
                    box = self.box(text, stubs)
                    result = box.run(shell=shell)
                    self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
                    self.assertEqual(box.stub_calls(), calls)
                    self.assertFalse(os.path.exists(box.marker), "the marker was kept after success")
                    self.assert_logged_to_console(result, calls + [f"rm -f {box.marker}"])
                    self.assertIn("done", result.stdout.splitlines()[-1])

    def test_yum_when_dnf_is_absent(self):
        box = self.box("ID=centos\n", ("yum", "ssh-keygen", "systemctl"))
        result = box.run()
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertEqual(box.stub_calls(), ["yum install -y openssh-server", "ssh-keygen -A", "systemctl enable --now sshd"])
        self.assertFalse(os.path.exists(box.marker))

    def test_a_failing_step_keeps_the_marker(self):
        cases = [
            ("ID=debian\n", "apt-get:install", ["DEBIAN_FRONTEND=noninteractive apt-get update",
                                                "DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openssh-server"]),
            ("ID=debian\n", "apt-get:update", ["DEBIAN_FRONTEND=noninteractive apt-get update"]),
            ("ID=alpine\n", "apk", ["apk add --no-cache openssh"]),
            ("ID=arch\n", "ssh-keygen", ["pacman -Sy --noconfirm openssh", "ssh-keygen -A"]),
            ("ID=rocky\n", "systemctl", ["dnf install -y openssh-server", "ssh-keygen -A", "systemctl enable --now sshd"]),
        ]
        for shell in shells():
            for text, fail, calls in cases:
                with self.subTest(shell=shell, os_release=text, failing=fail):
                    box = self.box(text, ("apt-get", "apk", "dnf", "pacman", "ssh-keygen", "systemctl"))
                    result = box.run(shell=shell, env={"STUB_FAIL": fail})
                    self.assertNotEqual(result.returncode, 0)
                    self.assertTrue(os.path.exists(box.marker), "the marker was removed after a failure")
                    self.assertEqual(box.stub_calls(), calls, "steps ran after the failure")
                    self.assertIn(f"'{calls[-1]}' failed", result.stderr)
                    self.assertIn(box.marker, result.stderr)

    def test_a_failing_openrc_start_keeps_the_marker(self):
        box = self.box("ID=alpine\n", ("apk", "ssh-keygen", "rc-update", "rc-service"))
        result = box.run(env={"STUB_FAIL": "rc-service"})
        self.assertNotEqual(result.returncode, 0)
        self.assertTrue(os.path.exists(box.marker))
        self.assertEqual(box.stub_calls()[-2:], ["rc-update add sshd default", "rc-service sshd start"])

    def test_a_missing_package_manager_keeps_the_marker(self):
        box = self.box("ID=alpine\n", ("apt-get", "ssh-keygen", "rc-update", "rc-service"))
        result = box.run()
        self.assertNotEqual(result.returncode, 0)
        self.assertTrue(os.path.exists(box.marker))
        self.assertIn("apk: command not found", result.stderr)
        self.assertEqual(box.stub_calls(), [])

    def test_unknown_distribution_fails_cleanly(self):
        for text, like in [("ID=plan9\n", "(none)"), ('NAME="Plan 9"\nID=plan9\nID_LIKE="bell-labs inferno"\n',
                                                       "bell-labs inferno")]:
            for shell in shells():
                with self.subTest(os_release=text, shell=shell):
                    box = self.box(text, STUBS)
                    result = box.run(shell=shell)
                    self.assertEqual(result.returncode, 3, result.stdout + result.stderr)
                    self.assertIn("unsupported distribution: ID=plan9", result.stderr)
                    self.assertIn(f"ID_LIKE={like}", result.stderr)
                    self.assertIn(box.marker, result.stderr)
                    self.assertTrue(os.path.exists(box.marker))
                    self.assertEqual(box.stub_calls(), [])

    def test_missing_os_release_fails_cleanly(self):
        box = self.box("ID=debian\n", STUBS)
        os.unlink(box.os_release)
        result = box.run()
        self.assertEqual(result.returncode, 3)
        self.assertIn(box.os_release, result.stderr)
        self.assertTrue(os.path.exists(box.marker))
        self.assertEqual(box.stub_calls(), [])

    def test_no_init_system_fails_before_installing(self):
        if os.path.exists("/sbin/openrc"):
            self.skipTest("/sbin/openrc exists on this machine: the script would pick OpenRC")
        box = self.box("ID=debian\n", ("apt-get", "ssh-keygen"))
        result = box.run()
        self.assertEqual(result.returncode, 3, result.stdout + result.stderr)
        self.assertIn("neither systemd", result.stderr)
        self.assertTrue(os.path.exists(box.marker))
        self.assertEqual(box.stub_calls(), [])

    def test_bad_init_override(self):
        box = self.box("ID=debian\n", STUBS)
        result = box.run(env={"BANGER_FIRST_BOOT_INIT": "upstart"})
        self.assertEqual(result.returncode, 3)
        self.assertIn("upstart", result.stderr)
        self.assertTrue(os.path.exists(box.marker))

    def test_nothing_to_do_without_the_marker(self):
        box = self.box("ID=debian\n", STUBS)
        os.unlink(box.marker)
        result = box.run()
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(box.stub_calls(), [])
        self.assertIn(f"{PREFIX}nothing to do", result.stdout)

    def test_default_marker_path(self):
        # Without the override the script looks at the guest path (absent here: nothing to do).
        if os.path.exists(DEFAULT_MARKER):
            self.skipTest(f"{DEFAULT_MARKER} exists on this machine")
        box = self.box("ID=debian\n", STUBS)
        result = box.run(env={"BANGER_FIRST_BOOT_MARKER": None})
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn(DEFAULT_MARKER, result.stdout)
        self.assertEqual(box.stub_calls(), [])

    def test_help_and_usage_errors(self):
        box = self.box("ID=debian\n", STUBS)
        result = box.run("--help")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("Usage: banger-first-boot", result.stdout)
        self.assertIn("--plan", result.stdout)
        self.assertEqual(box.stub_calls(), [])
        result = box.run("--frobnicate")
        self.assertEqual(result.returncode, 2)
        self.assertIn("--frobnicate", result.stderr)
        self.assertTrue(os.path.exists(box.marker))
        self.assertEqual(box.stub_calls(), [])


class LintTest(unittest.TestCase):
    FILES = [SCRIPT] + OPENRC_SCRIPTS

    def check(self, command):
        result = subprocess.run(command, capture_output=True, text=True, timeout=60)
        self.assertEqual(result.returncode, 0, f"{' '.join(command)}:\n{result.stdout}{result.stderr}")

    def test_first_boot_is_posix_sh(self):
        with open(SCRIPT) as f:
            self.assertEqual(f.readline(), "#!/bin/sh\n")

    def test_syntax_under_every_shell(self):
        for path in self.FILES:
            for shell in [["sh"], ["dash"]] + shells()[1:]:
                with self.subTest(path=os.path.relpath(path, SOURCE_DIR), shell=shell):
                    self.check(shell + ["-n", path])

    def test_shellcheck(self):
        shellcheck = shutil.which("shellcheck")
        self.assertIsNotNone(shellcheck, "shellcheck is missing: run scripts/install-deps.sh")
        for path in self.FILES:
            with self.subTest(path=os.path.relpath(path, SOURCE_DIR)):
                self.check([shellcheck, "-s", "sh", path])

    def test_shellcheck_catches_bashisms(self):
        # The check above means something: shellcheck -s sh rejects a bashism.
        shellcheck = shutil.which("shellcheck")
        self.assertIsNotNone(shellcheck, "shellcheck is missing: run scripts/install-deps.sh")
        with tempfile.NamedTemporaryFile("w", suffix=".sh", dir=os.getcwd()) as f:
            f.write('#!/bin/sh\nif [[ -n "$1" ]]; then echo "${1,,}"; fi\n')
            f.flush()
            result = subprocess.run([shellcheck, "-s", "sh", f.name], capture_output=True, text=True)
            self.assertNotEqual(result.returncode, 0)


if __name__ == "__main__":
    import unittest_main
    unittest_main.main()
