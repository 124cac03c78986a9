#include "broker/host/service_files.h"

#include <sstream>

namespace banger::broker {

std::string SystemdSocketUnit(const ServiceSettings& s) {
  std::ostringstream t;
  t << "# Written by `banger system install` (docs/multi-tenant.md); it is rewritten by the\n"
       "# next install, so change the config's socket and socket_group and install again.\n"
       "[Unit]\n"
       "Description=banger daemon socket (bangerd)\n"
       "\n"
       "[Socket]\n"
       "ListenSequentialPacket=" << s.socket << "\n"
       "SocketUser=root\n"
       "SocketGroup=" << (s.socket_group.empty() ? "root" : s.socket_group) << "\n"
       "SocketMode=0660\n"
       "DirectoryMode=0755\n"
       "RemoveOnStop=yes\n"
       "\n"
       "[Install]\n"
       "WantedBy=sockets.target\n";
  return t.str();
}

// What is left out, and why: the broker starts sandboxed helpers, which need user, mount,
// network, PID and IPC namespaces (so no RestrictNamespaces), and mount, seccomp and
// setuid calls (so no SystemCallFilter); it writes only its own directories
// (ProtectSystem=strict with those), with the capabilities kDaemonCapabilities lists.
std::string SystemdServiceUnit(const ServiceSettings& s) {
  std::ostringstream t;
  t << "# Written by `banger system install` (docs/multi-tenant.md).\n"
       "[Unit]\n"
       "Description=banger image importer daemon (bangerd)\n"
       "Requires=" << kSocketUnitName << "\n"
       "After=" << kSocketUnitName << " network-online.target\n"
       "Wants=network-online.target\n"
       "\n"
       "[Service]\n"
       "Type=simple\n"
       "ExecStart=" << s.bangerd << " --config " << s.config_file << " --foreground\n"
       "ExecReload=/bin/kill -HUP $MAINPID\n"
       "# SIGTERM to bangerd alone: it stops its requests (nothing is published) and waits.\n"
       "KillMode=mixed\n"
       "TimeoutStopSec=90\n"
       "Restart=on-failure\n"
       "NoNewPrivileges=yes\n"
       "CapabilityBoundingSet=";
  for (const char* capability : kDaemonCapabilities) t << (capability == kDaemonCapabilities[0] ? "" : " ") << capability;
  t << "\n"
       "ProtectSystem=strict\n"
       "ReadWritePaths=-" << s.state_dir << " -" << s.cache_dir << " -" << s.audit_dir << "\n"
       "ProtectHome=yes\n"
       "PrivateTmp=yes\n"
       "ProtectKernelTunables=yes\n"
       "ProtectKernelModules=yes\n"
       "ProtectKernelLogs=yes\n"
       "ProtectControlGroups=yes\n"
       "ProtectClock=yes\n"
       "ProtectHostname=yes\n"
       "ProtectProc=default\n"
       "RestrictRealtime=yes\n"
       "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK\n"
       "LockPersonality=yes\n"
       "MemoryDenyWriteExecute=yes\n"
       "SystemCallArchitectures=native\n"
       "UMask=0077\n"
       "# Room for bangerd's waiting clients (at most 256) and its requests' pipes.\n"
       "LimitNOFILE=8192\n"
       "\n"
       "[Install]\n"
       "Also=" << kSocketUnitName << "\n";
  return t.str();
}

std::string OpenRcScript(const ServiceSettings& s) {
  std::ostringstream t;
  t << "#!/sbin/openrc-run\n"
       "# Written by `banger system install` (docs/multi-tenant.md).\n"
       "# openrc-run reads the variables below.\n"
       "# shellcheck shell=sh disable=SC2034\n"
       "\n"
       "description=\"banger image importer daemon (bangerd)\"\n"
       "command=\"" << s.bangerd << "\"\n"
       "command_args=\"--config " << s.config_file << " --foreground\"\n"
       "command_background=yes\n"
       "pidfile=\"/run/${RC_SVCNAME}.pid\"\n"
       "output_log=\"/var/log/bangerd.log\"\n"
       "error_log=\"/var/log/bangerd.log\"\n"
       "extra_started_commands=\"reload\"\n"
       "# SIGTERM: bangerd stops its requests (nothing is published), then ends.\n"
       "retry=\"TERM/90/KILL/5\"\n"
       "\n"
       "depend() {\n"
       "\tneed localmount\n"
       "\tuse net dns logger\n"
       "}\n"
       "\n"
       "reload() {\n"
       "\tebegin \"Reloading ${RC_SVCNAME}\"\n"
       "\tstart-stop-daemon --signal HUP --pidfile \"${pidfile}\"\n"
       "\teend $?\n"
       "}\n";
  return t.str();
}

}  // namespace banger::broker
