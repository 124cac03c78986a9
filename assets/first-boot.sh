#!/bin/sh
# banger-first-boot: installed in every banger guest as /usr/local/libexec/banger-first-boot
# and run once by banger-first-boot.service (systemd) or /etc/init.d/banger-first-boot
# (OpenRC) while the marker /var/lib/banger/first-boot-pending exists.
#
# It installs the distribution's OpenSSH server (chosen from /etc/os-release: ID, then each
# word of ID_LIKE), makes the host keys, enables and starts ssh, and removes the marker only
# when every step succeeded; otherwise the marker stays and the next boot tries again.
# Every step is logged to the console, prefixed "banger-first-boot:".
#
# POSIX sh: it runs under dash, bash and busybox ash (Alpine). Run with --help for usage.

set -u
set -f  # words from os-release are split, never glob-expanded

prog=banger-first-boot
: "${PATH:=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin}"
export PATH

marker=${BANGER_FIRST_BOOT_MARKER:-/var/lib/banger/first-boot-pending}
plan=0
case ${BANGER_FIRST_BOOT_PLAN:-0} in
  1|yes|true) plan=1 ;;
esac

usage() {
  # printf, not cat: the help needs no external command.
  printf '%s\n' "Usage: $prog [--plan] [--help]

Runs once on a banger guest's first boot: installs the OpenSSH server with the
distribution's package manager, makes the host keys (ssh-keygen -A), enables and
starts ssh, then removes $marker.
Nothing is done when that marker does not exist. When a step fails, or the
distribution is unknown, the marker is kept and the exit status is non-zero.

The distribution is read from /etc/os-release (or /usr/lib/os-release): ID first,
then each word of ID_LIKE in order.
  debian ubuntu kali raspbian linuxmint pop   apt-get install --no-install-recommends openssh-server (service ssh)
  alpine                                      apk add openssh (service sshd)
  fedora rhel centos rocky almalinux          dnf, else yum, else microdnf: openssh-server
  arch archlinux manjaro                      pacman -Sy openssh
  opensuse* suse sles                         zypper install openssh
ssh is enabled with systemctl under systemd, with rc-update and rc-service under OpenRC.

Options:
  --plan    print the commands that would run, one per line, and change nothing
  --help    print this help

Environment:
  BANGER_OS_RELEASE          the os-release file to read
  BANGER_FIRST_BOOT_MARKER   the marker (default /var/lib/banger/first-boot-pending)
  BANGER_FIRST_BOOT_PLAN=1   the same as --plan
  BANGER_FIRST_BOOT_INIT     systemd or openrc, instead of detecting the init system

Exit status: 0 done or nothing pending; 1 a step failed; 2 usage error;
3 no os-release, an unknown distribution or no known init system."
}

# Messages go to the console (stdout); in plan mode stdout carries only the commands.
log() {
  if [ "$plan" = 1 ]; then
    printf '%s: %s\n' "$prog" "$*" >&2
  else
    printf '%s: %s\n' "$prog" "$*"
  fi
}

error() {
  printf '%s: error: %s\n' "$prog" "$*" >&2
}

have() {
  command -v "$1" >/dev/null 2>&1
}

# run [NAME=VALUE...] COMMAND [ARG...]: prints it in plan mode, otherwise logs and runs it
# with the leading assignments in its environment. Returns the command's status.
run() {
  if [ "$plan" = 1 ]; then
    printf '%s\n' "$*"
    return 0
  fi
  log "running: $*"
  cmd=
  for word in "$@"; do
    case $word in
      *=*) ;;
      *) cmd=$word; break ;;
    esac
  done
  if ! have "$cmd"; then
    error "$cmd: command not found (PATH=$PATH)"
    return 127
  fi
  (
    while [ $# -gt 0 ]; do
      case $1 in
        *=*)
          # shellcheck disable=SC2163 # exports the NAME=VALUE word itself
          export "$1"
          shift
          ;;
        *) break ;;
      esac
    done
    exec "$@"
  )
}

# step COMMAND...: run, and on failure keep the marker and stop with status 1.
step() {
  run "$@"
  status=$?
  if [ "$status" -ne 0 ]; then
    error "'$*' failed (exit status $status); keeping $marker so the next boot tries again"
    exit 1
  fi
}

cr=$(printf '\r')

# Sets value to $1 without a trailing CR and one level of quotes.
strip_value() {
  value=$1
  value=${value%"$cr"}
  case $value in
    \"*\") value=${value#\"}; value=${value%\"} ;;
    \'*\') value=${value#\'}; value=${value%\'} ;;
  esac
}

# Sets os_id and os_id_like from an os-release file, without sourcing it.
read_os_release() {
  os_id=
  os_id_like=
  while IFS= read -r line || [ -n "$line" ]; do
    case $line in
      ID=*) strip_value "${line#ID=}"; os_id=$value ;;
      ID_LIKE=*) strip_value "${line#ID_LIKE=}"; os_id_like=$value ;;
    esac
  done <"$1"
}

# Sets family, ssh_service and matched from ID, then each word of ID_LIKE.
pick_family() {
  family=
  matched=
  for word in $os_id $os_id_like; do
    case $word in
      debian|ubuntu|kali|raspbian|linuxmint|pop) family=apt; ssh_service=ssh ;;
      alpine) family=apk; ssh_service=sshd ;;
      fedora|rhel|centos|rocky|almalinux) family=rpm; ssh_service=sshd ;;
      arch|archlinux|manjaro) family=pacman; ssh_service=sshd ;;
      opensuse*|suse|sles) family=zypper; ssh_service=sshd ;;
      *) continue ;;
    esac
    matched=$word
    return 0
  done
  return 1
}

# Sets init to systemd or openrc: the running init first, then the tools present.
detect_init() {
  case ${BANGER_FIRST_BOOT_INIT:-} in
    systemd|openrc) init=$BANGER_FIRST_BOOT_INIT; return 0 ;;
    '') ;;
    *) error "BANGER_FIRST_BOOT_INIT must be systemd or openrc, not '$BANGER_FIRST_BOOT_INIT'"; return 1 ;;
  esac
  if [ -d /run/systemd/system ] && have systemctl; then
    init=systemd
  elif [ -d /run/openrc ] && have rc-service; then
    init=openrc
  elif have systemctl; then
    init=systemd
  elif have rc-update || have rc-service || [ -x /sbin/openrc ]; then
    init=openrc
  else
    error "neither systemd (systemctl) nor OpenRC (rc-update, /sbin/openrc) found: cannot enable ssh; keeping $marker"
    return 1
  fi
}

install_openssh() {
  case $family in
    apt)
      step DEBIAN_FRONTEND=noninteractive apt-get update
      step DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends openssh-server
      ;;
    apk)
      step apk add --no-cache openssh
      ;;
    rpm)
      # dnf (dnf5 installs itself as dnf too), else yum (RHEL/CentOS 7), else microdnf
      # (the ubi-minimal images).
      if have dnf; then
        rpm_tool=dnf
      elif have yum; then
        rpm_tool=yum
      elif have microdnf; then
        rpm_tool=microdnf
      else
        rpm_tool=dnf
      fi
      step "$rpm_tool" install -y openssh-server
      ;;
    pacman)
      step pacman -Sy --noconfirm openssh
      ;;
    zypper)
      # "openssh" is the whole server on every openSUSE and SLES (a metapackage for
      # openssh-server and openssh-clients where those are split).
      step zypper --non-interactive install openssh
      ;;
  esac
}

enable_ssh() {
  case $init in
    systemd)
      step systemctl enable --now "$ssh_service"
      ;;
    openrc)
      step rc-update add "$ssh_service" default
      step rc-service "$ssh_service" start
      ;;
  esac
}

while [ $# -gt 0 ]; do
  case $1 in
    --plan) plan=1 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; error "unknown argument '$1'"; exit 2 ;;
  esac
  shift
done

if [ "$plan" = 0 ] && [ ! -e "$marker" ]; then
  log "nothing to do: $marker does not exist"
  exit 0
fi

if [ -n "${BANGER_OS_RELEASE:-}" ]; then
  os_release=$BANGER_OS_RELEASE
elif [ -e /etc/os-release ]; then
  os_release=/etc/os-release
else
  os_release=/usr/lib/os-release
fi
if [ ! -r "$os_release" ]; then
  error "cannot read $os_release: unknown distribution; keeping $marker"
  exit 3
fi
read_os_release "$os_release"
log "$os_release: ID=${os_id:-(none)} ID_LIKE=${os_id_like:-(none)}"

if ! pick_family; then
  error "unsupported distribution: ID=${os_id:-(none)} ID_LIKE=${os_id_like:-(none)} in $os_release;" \
    "no known package manager for it. Keeping $marker: install and start an SSH server" \
    "by hand, then remove the marker."
  exit 3
fi
detect_init || exit 3
log "distribution '$matched' ($family), init system $init, ssh service '$ssh_service'"

log "installing the OpenSSH server"
install_openssh
log "making the host keys"
step ssh-keygen -A
log "enabling and starting $ssh_service"
enable_ssh
step rm -f "$marker"
if [ "$plan" = 0 ]; then
  log "done: $ssh_service is enabled and running; removed $marker"
fi
exit 0
