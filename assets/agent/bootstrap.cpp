#include "assets/agent/bootstrap.h"

#include <fcntl.h>
#include <net/if_arp.h>
#include <net/if.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <thread>

#include "assets/agent/bootstrap_config.h"
#include "assets/agent/common.h"
#include "assets/agent/netlink.h"

namespace banger::agent {
namespace {

constexpr size_t kMaxCmdline = 65536;

// Replaces dir/name with `content` (write a temporary file, rename over), unless it
// already holds exactly that. A symlink there (e.g. to a resolver's stub file) is replaced.
// Returns "" or an error; `*changed` says whether the file was written.
std::string WriteFileIfDifferent(const std::string& dir, const std::string& name, const std::string& content,
                                 bool* changed) {
  const std::string path = dir + "/" + name;
  struct stat st {};
  int err = 0;
  if (::lstat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
    const auto current = ReadSmallFile(path, content.size() + 1, &err);
    if (current && *current == content) {
      *changed = false;
      return "";
    }
  }
  const std::string temporary = dir + "/." + name + ".banger-" + std::to_string(::getpid());
  ::unlink(temporary.c_str());
  UniqueFd fd(::open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644));
  if (!fd.valid()) return path + ": " + ErrnoText(errno);
  const bool ok = WriteAll(fd.get(), content) && ::fchmod(fd.get(), 0644) == 0 && ::fsync(fd.get()) == 0;
  err = errno;
  fd.reset();
  if (!ok || ::rename(temporary.c_str(), path.c_str()) != 0) {
    if (ok) err = errno;
    ::unlink(temporary.c_str());
    return path + ": " + ErrnoText(err);
  }
  *changed = true;
  return "";
}

// banger.iface, else eth0, else the first link that is not a loopback.
const Link* ChooseLink(const std::vector<Link>& links, const std::string& wanted) {
  const Link* first = nullptr;
  for (const Link& link : links) {
    if (!wanted.empty()) {
      if (link.name == wanted) return &link;
      continue;
    }
    if (link.name == "eth0") return &link;
    if (first == nullptr && link.type != ARPHRD_LOOPBACK && !(link.flags & IFF_LOOPBACK)) first = &link;
  }
  return wanted.empty() ? first : nullptr;
}

std::string ApplyNetwork(Netlink& netlink, const std::vector<Link>& links, const Link& target, const NetworkPlan& plan) {
  for (const Link& link : links) {
    if (link.type == ARPHRD_LOOPBACK && link.index != target.index) {
      if (NetlinkStatus s = netlink.SetLinkUp(link.index); s.error != 0) return link.name + ": up: " + s.Describe();
      Say(link.name + ": up");
    }
  }
  if (NetlinkStatus s = netlink.SetLinkUp(target.index); s.error != 0) return target.name + ": up: " + s.Describe();
  Say(target.name + ": up");
  if (plan.has_address) {
    const std::string cidr = FormatIpv4(plan.address) + "/" + std::to_string(plan.prefix);
    const NetlinkStatus s = netlink.AddAddress(target.index, plan.address, plan.prefix);
    if (s.error != 0 && s.error != EEXIST) return target.name + ": address " + cidr + ": " + s.Describe();
    Say(target.name + ": address " + cidr + (s.error == EEXIST ? " already present" : " added"));
  }
  if (plan.has_gateway) {
    const std::string route = "default route via " + FormatIpv4(plan.gateway) + " dev " + target.name;
    if (NetlinkStatus s = netlink.ReplaceDefaultRoute(target.index, plan.gateway); s.error != 0) {
      return route + ": " + s.Describe();
    }
    Say(route);
  }
  return "";
}

std::string ApplyFiles(const std::string& etc, const NetworkPlan& plan) {
  bool changed = false;
  if (!plan.nameservers.empty()) {
    std::string content = "# Written by banger-network-bootstrap from banger.dns on the kernel command line.\n";
    std::string list;
    for (const std::string& server : plan.nameservers) {
      content += "nameserver " + server + "\n";
      list += (list.empty() ? "" : " ") + server;
    }
    if (std::string error = WriteFileIfDifferent(etc, "resolv.conf", content, &changed); !error.empty()) return error;
    Say(etc + "/resolv.conf: nameserver " + list + (changed ? " (written)" : " (unchanged)"));
  }
  if (!plan.hostname.empty()) {
    if (std::string error = WriteFileIfDifferent(etc, "hostname", plan.hostname + "\n", &changed); !error.empty()) {
      return error;
    }
    Say(etc + "/hostname: " + plan.hostname + (changed ? " (written)" : " (unchanged)"));
    if (::sethostname(plan.hostname.data(), plan.hostname.size()) != 0) return "sethostname: " + ErrnoText(errno);
    Say("hostname: " + plan.hostname);
  }
  return "";
}

constexpr int kDefaultLinkWaitSeconds = 10;

int Fail(const std::string& message) {
  LogError(message);
  return 1;
}

}  // namespace

int RunNetworkBootstrap(const std::vector<std::string>& args) {
  std::string cmdline_path = "/proc/cmdline";
  std::string etc = "/etc";
  int link_wait_seconds = kDefaultLinkWaitSeconds;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "--link-wait" && i + 1 < args.size()) {
      const std::string& value = args[++i];
      if (value.empty() || value.size() > 4 || value.find_first_not_of("0123456789") != std::string::npos) {
        LogError("--link-wait wants a whole number of seconds, not '" + value + "'");
        return 2;
      }
      link_wait_seconds = std::stoi(value);
    } else if ((arg == "--cmdline" || arg == "--etc") && i + 1 < args.size()) {
      (arg == "--cmdline" ? cmdline_path : etc) = args[++i];
    } else if (arg.starts_with("--cmdline=")) {
      cmdline_path = arg.substr(10);
    } else if (arg.starts_with("--etc=")) {
      etc = arg.substr(6);
    } else {
      LogError("unknown argument '" + arg + "' (try --help)");
      return 2;
    }
  }

  int err = 0;
  const auto cmdline = ReadSmallFile(cmdline_path, kMaxCmdline, &err);
  if (!cmdline) return Fail(cmdline_path + ": " + ErrnoText(err));
  NetworkPlan plan;
  if (std::string error = PlanFromCmdline(SplitCmdline(*cmdline), &plan); !error.empty()) return Fail(error);
  for (const std::string& note : plan.notes) Say(note);
  if (plan.empty()) {
    Say("no banger.ip, banger.gw, banger.dns or banger.hostname in " + cmdline_path + "; nothing to change");
    return 0;
  }

  // Everything that can be checked is checked before the first change.
  if (!plan.nameservers.empty() || !plan.hostname.empty()) {
    struct stat st {};
    if (::stat(etc.c_str(), &st) != 0) return Fail(etc + ": " + ErrnoText(errno));
    if (!S_ISDIR(st.st_mode)) return Fail(etc + ": not a directory");
  }
  Netlink netlink;
  std::vector<Link> links;
  const Link* target = nullptr;
  if (plan.configures_network()) {
    if (!netlink.valid()) return Fail("netlink socket: " + netlink.status().Describe());
    // A NIC whose driver is a module may appear a moment after boot reaches us: wait a
    // little (polling, bounded) before calling it missing.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(link_wait_seconds);
    for (bool said = false;;) {
      links.clear();
      if (NetlinkStatus s = netlink.ListLinks(&links); s.error != 0) return Fail("listing links: " + s.Describe());
      target = ChooseLink(links, plan.iface);
      if (target != nullptr || std::chrono::steady_clock::now() >= deadline) break;
      if (!said) {
        Say("waiting up to " + std::to_string(link_wait_seconds) + " s for " +
            (plan.iface.empty() ? std::string("a network interface") : "interface " + plan.iface));
        said = true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    if (target == nullptr) {
      return Fail(plan.iface.empty() ? std::string("no network interface besides loopback")
                                     : "banger.iface: no interface named '" + plan.iface + "'");
    }
  }

  if (target != nullptr) {
    if (std::string error = ApplyNetwork(netlink, links, *target, plan); !error.empty()) return Fail(error);
  }
  if (std::string error = ApplyFiles(etc, plan); !error.empty()) return Fail(error);
  return 0;
}

}  // namespace banger::agent
