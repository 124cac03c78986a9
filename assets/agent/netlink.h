// A minimal rtnetlink client: what the network bootstrap needs and nothing more
// (the guest may have no iproute2).
#pragma once

#include <netinet/in.h>

#include <cstdint>
#include <string>
#include <vector>

#include "assets/agent/common.h"

namespace banger::agent {

struct Link {
  int index = 0;
  std::string name;
  unsigned flags = 0;       // IFF_*
  unsigned short type = 0;  // ARPHRD_*
};

// The outcome of one request: 0 or an errno, with the kernel's extended ack message
// when it sent one.
struct NetlinkStatus {
  int error = 0;
  std::string message;
  std::string Describe() const;
};

class Netlink {
 public:
  // An NETLINK_ROUTE socket; on failure `valid()` is false and `status()` says why.
  Netlink();
  bool valid() const { return fd_.valid(); }
  const NetlinkStatus& status() const { return open_status_; }

  NetlinkStatus ListLinks(std::vector<Link>* links);
  NetlinkStatus SetLinkUp(int index);
  // RTM_NEWADDR with NLM_F_EXCL: EEXIST means the address is already there.
  NetlinkStatus AddAddress(int index, in_addr address, int prefix);
  // The main table's default route via `gateway` on `index`, created or replaced.
  NetlinkStatus ReplaceDefaultRoute(int index, in_addr gateway);

 private:
  NetlinkStatus Send(const void* message, size_t length);
  // Reads until the ack (or NLMSG_DONE of a dump) for `seq`; `on_message` sees data messages.
  template <typename F>
  NetlinkStatus Receive(uint32_t seq, F&& on_message);

  UniqueFd fd_;
  NetlinkStatus open_status_;
  uint32_t seq_ = 0;
};

}  // namespace banger::agent
