#include "assets/agent/netlink.h"

#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

namespace banger::agent {
namespace {

// One request: header, fixed payload, attributes, built in an aligned buffer.
class Request {
 public:
  Request(uint16_t type, uint16_t flags, const void* payload, size_t length) {
    std::memset(buffer_, 0, sizeof buffer_);
    hdr()->nlmsg_len = static_cast<uint32_t>(NLMSG_LENGTH(length));
    hdr()->nlmsg_type = type;
    hdr()->nlmsg_flags = static_cast<uint16_t>(NLM_F_REQUEST | flags);
    std::memcpy(NLMSG_DATA(hdr()), payload, length);
  }
  void AddAttr(uint16_t type, const void* data, size_t length) {
    const size_t offset = NLMSG_ALIGN(hdr()->nlmsg_len);
    auto* attr = reinterpret_cast<rtattr*>(buffer_ + offset);
    attr->rta_type = type;
    attr->rta_len = static_cast<uint16_t>(RTA_LENGTH(length));
    std::memcpy(RTA_DATA(attr), data, length);
    hdr()->nlmsg_len = static_cast<uint32_t>(offset + RTA_ALIGN(attr->rta_len));
  }
  nlmsghdr* hdr() { return reinterpret_cast<nlmsghdr*>(buffer_); }

 private:
  alignas(nlmsghdr) char buffer_[512];
};

// The NLMSGERR_ATTR_MSG string of an extended ack, if any.
std::string ExtendedAckMessage(const nlmsghdr* header) {
  if (!(header->nlmsg_flags & NLM_F_ACK_TLVS)) return "";
  const auto* err = static_cast<const nlmsgerr*>(NLMSG_DATA(header));
  size_t offset = NLMSG_HDRLEN + sizeof(nlmsgerr);
  if (!(header->nlmsg_flags & NLM_F_CAPPED)) offset += NLMSG_ALIGN(err->msg.nlmsg_len - NLMSG_HDRLEN);
  if (offset > header->nlmsg_len) return "";
  const auto* attr = reinterpret_cast<const rtattr*>(reinterpret_cast<const char*>(header) + offset);
  int left = static_cast<int>(header->nlmsg_len - offset);
  for (; RTA_OK(attr, left); attr = RTA_NEXT(attr, left)) {
    if (attr->rta_type == NLMSGERR_ATTR_MSG) {
      const char* text = static_cast<const char*>(RTA_DATA(attr));
      return std::string(text, strnlen(text, RTA_PAYLOAD(attr)));
    }
  }
  return "";
}

}  // namespace

std::string NetlinkStatus::Describe() const {
  std::string text = ErrnoText(error);
  if (!message.empty()) text += " (" + message + ")";
  return text;
}

Netlink::Netlink() {
  fd_.reset(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (!fd_.valid()) {
    open_status_.error = errno;
    return;
  }
  const int one = 1;
  ::setsockopt(fd_.get(), SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof one);  // best effort
  ::setsockopt(fd_.get(), SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof one);
}

NetlinkStatus Netlink::Send(const void* message, size_t length) {
  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  for (;;) {
    if (::sendto(fd_.get(), message, length, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) >= 0) return {};
    if (errno != EINTR) return {errno, ""};
  }
}

template <typename F>
NetlinkStatus Netlink::Receive(uint32_t seq, F&& on_message) {
  alignas(nlmsghdr) static char buffer[32768];
  for (;;) {
    const ssize_t n = ::recv(fd_.get(), buffer, sizeof buffer, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return {errno, ""};
    }
    int left = static_cast<int>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buffer); NLMSG_OK(h, left); h = NLMSG_NEXT(h, left)) {
      if (h->nlmsg_seq != seq) continue;  // a stale answer
      if (h->nlmsg_type == NLMSG_DONE) return {};
      if (h->nlmsg_type == NLMSG_ERROR) {
        const auto* err = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
        return {-err->error, err->error == 0 ? "" : ExtendedAckMessage(h)};
      }
      on_message(h);
    }
  }
}

NetlinkStatus Netlink::ListLinks(std::vector<Link>* links) {
  ifinfomsg info{};
  info.ifi_family = AF_UNSPEC;
  Request request(RTM_GETLINK, NLM_F_DUMP, &info, sizeof info);
  request.hdr()->nlmsg_seq = ++seq_;
  if (NetlinkStatus status = Send(request.hdr(), request.hdr()->nlmsg_len); status.error != 0) return status;
  return Receive(seq_, [links](const nlmsghdr* h) {
    if (h->nlmsg_type != RTM_NEWLINK) return;
    const auto* found = static_cast<const ifinfomsg*>(NLMSG_DATA(h));
    Link link;
    link.index = found->ifi_index;
    link.flags = found->ifi_flags;
    link.type = found->ifi_type;
    int left = static_cast<int>(IFLA_PAYLOAD(h));
    for (const rtattr* attr = IFLA_RTA(found); RTA_OK(attr, left); attr = RTA_NEXT(attr, left)) {
      if (attr->rta_type == IFLA_IFNAME) {
        const char* name = static_cast<const char*>(RTA_DATA(attr));
        link.name.assign(name, strnlen(name, RTA_PAYLOAD(attr)));
      }
    }
    links->push_back(std::move(link));
  });
}

NetlinkStatus Netlink::SetLinkUp(int index) {
  ifinfomsg info{};
  info.ifi_family = AF_UNSPEC;
  info.ifi_index = index;
  info.ifi_flags = IFF_UP;
  info.ifi_change = IFF_UP;
  Request request(RTM_NEWLINK, NLM_F_ACK, &info, sizeof info);
  request.hdr()->nlmsg_seq = ++seq_;
  if (NetlinkStatus status = Send(request.hdr(), request.hdr()->nlmsg_len); status.error != 0) return status;
  return Receive(seq_, [](const nlmsghdr*) {});
}

NetlinkStatus Netlink::AddAddress(int index, in_addr address, int prefix) {
  ifaddrmsg info{};
  info.ifa_family = AF_INET;
  info.ifa_prefixlen = static_cast<unsigned char>(prefix);
  info.ifa_scope = RT_SCOPE_UNIVERSE;
  info.ifa_index = static_cast<unsigned>(index);
  Request request(RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL, &info, sizeof info);
  request.AddAttr(IFA_LOCAL, &address, sizeof address);
  request.AddAttr(IFA_ADDRESS, &address, sizeof address);
  if (prefix < 31) {  // like "ip addr add ... brd +"
    const uint32_t host_mask = prefix == 0 ? 0xffffffffu : (1u << (32 - prefix)) - 1;
    in_addr broadcast{htonl(ntohl(address.s_addr) | host_mask)};
    request.AddAttr(IFA_BROADCAST, &broadcast, sizeof broadcast);
  }
  request.hdr()->nlmsg_seq = ++seq_;
  if (NetlinkStatus status = Send(request.hdr(), request.hdr()->nlmsg_len); status.error != 0) return status;
  return Receive(seq_, [](const nlmsghdr*) {});
}

NetlinkStatus Netlink::ReplaceDefaultRoute(int index, in_addr gateway) {
  rtmsg info{};
  info.rtm_family = AF_INET;
  info.rtm_dst_len = 0;
  info.rtm_table = RT_TABLE_MAIN;
  info.rtm_protocol = RTPROT_BOOT;
  info.rtm_scope = RT_SCOPE_UNIVERSE;
  info.rtm_type = RTN_UNICAST;
  Request request(RTM_NEWROUTE, NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE, &info, sizeof info);
  request.AddAttr(RTA_GATEWAY, &gateway, sizeof gateway);
  const uint32_t oif = static_cast<uint32_t>(index);
  request.AddAttr(RTA_OIF, &oif, sizeof oif);
  request.hdr()->nlmsg_seq = ++seq_;
  if (NetlinkStatus status = Send(request.hdr(), request.hdr()->nlmsg_len); status.error != 0) return status;
  return Receive(seq_, [](const nlmsghdr*) {});
}

}  // namespace banger::agent
