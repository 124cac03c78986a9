// A stand-in for a fetcher compromised after it locked down (say, by a libcurl bug),
// installed as banger-fetcher. It serves the broker as banger-fetcher does, with one
// attack, named by the file FILE.attack beside it (read before lockdown):
//   rewrite-fds     keep a duplicate of every descriptor the broker gives it and, once its
//                   work is done, rewrite each one: a regular file in place with bytes of
//                   the same size (so a cache that trusts sizes would keep them), anything
//                   else (a pipe) with a write the broker must no longer be reading;
//   resolve TAG     asked for a digest reference, resolve the repository's TAG instead and
//                   report that manifest, honestly hashed;
//   plan CHANGE     resolve honestly, hand over the honest documents, and report a plan
//                   with one CHANGE: drop-layer, reorder-layers, duplicate-layer,
//                   platform (claims linux/arm64), layer-size (one byte more);
//   reach-host PORT asked to resolve, try to reach the host's 127.0.0.1:PORT: with a
//                   socket of its own, through the broker's gate as itself, through the
//                   gate claiming the registry's name, and by disconnecting a socket the
//                   gate connected to the registry and connecting it again; fail the pull
//                   with what each got ("direct: ...; as itself: ...; as the registry:
//                   ...; reconnected: ...").
//   stall-blobs     resolve honestly, then take every blob request and its pipe and never
//                   write a byte or answer: only the broker's own deadline ends the pull.
//   forge-signature resolve honestly; asked for a tag-scheme signature manifest, hand over one of its
//                   own making whose one layer is a simple-signing payload for exactly
//                   the digest asked about, signed by no key (it has none), and serve
//                   that payload when the broker asks for its blob.
//   document-size   asked for a signature manifest, write a few bytes and report more.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "base/address.h"
#include "base/digest.h"
#include "base/fd.h"
#include "base/sha256.h"
#include "fetcher/fetcher_process.h"
#include "fetcher/network_gateway.h"
#include "security/spawn.h"
#include "ipc/fetch_protocol.h"

namespace {

namespace ipc = banger::ipc;
namespace security = banger::security;
using banger::Result;
using banger::UniqueFd;

std::string g_attack;  // FILE.attack, read before lockdown

class Attacker {
 public:
  explicit Attacker(ipc::Channel& channel) : channel_(channel), real_(banger::fetcher::MakeFetcherHandler(channel)) {}
  // After the real service joined its downloads: every download has been reported done.
  ~Attacker() {
    real_ = nullptr;
    for (const UniqueFd& fd : kept_) Rewrite(fd.get());
  }

  Result<bool> Serve(ipc::Message& message) {
    if (g_attack == "rewrite-fds") {
      for (const UniqueFd& fd : message.fds) {
        if (auto copy = banger::DupCloexec(fd.get())) kept_.push_back(std::move(*copy));
      }
    }
    if (g_attack == "stall-blobs" && message.type == ipc::MessageType::kFetchBlob) {
      for (UniqueFd& fd : message.fds) kept_.push_back(std::move(fd));  // held open, never written
      return true;
    }
    if (g_attack.rfind("plan ", 0) == 0 && message.type == ipc::MessageType::kResolve) return LieAboutThePlan(message);
    if (message.type == ipc::MessageType::kFetchDocument && (g_attack == "forge-signature" || g_attack == "document-size")) {
      BANGER_ASSIGN_OR_RETURN(ipc::DocumentRequest request, ipc::Decode<ipc::DocumentRequest>(message.body));
      if (request.selector.ends_with(".sig")) return ForgeDocument(message);  // the referrers it asks honestly
    }
    if (g_attack == "forge-signature" && message.type == ipc::MessageType::kFetchBlob) {
      BANGER_ASSIGN_OR_RETURN(ipc::BlobRequest request, ipc::Decode<ipc::BlobRequest>(message.body));
      if (request.blob.digest == banger::Sha256DigestOf(payload_)) {
        BANGER_TRY(banger::WriteAll(message.fds[0].get(), payload_, "the forged payload"));
        message.fds[0].reset();
        BANGER_TRY(channel_.Send(ipc::Message::Make(ipc::MessageType::kBlobDone,
                                                    ipc::Encode(ipc::BlobDone{request.id, payload_.size()}))));
        return true;
      }
    }
    if (g_attack.rfind("reach-host ", 0) == 0 && message.type == ipc::MessageType::kResolve) return ReachTheHost(message);
    if (g_attack.rfind("resolve ", 0) == 0 && message.type == ipc::MessageType::kResolve) {
      BANGER_ASSIGN_OR_RETURN(ipc::ResolveRequest request, ipc::Decode<ipc::ResolveRequest>(message.body));
      request.reference = request.reference.substr(0, request.reference.find('@')) + ":" + g_attack.substr(8);
      message.body = ipc::Encode(request);
    }
    return real_(message);
  }

 private:
  Result<bool> LieAboutThePlan(ipc::Message& message) {
    BANGER_ASSIGN_OR_RETURN(ipc::ResolveRequest request, ipc::Decode<ipc::ResolveRequest>(message.body));
    BANGER_ASSIGN_OR_RETURN(ipc::ResolvedPlan plan,
                            banger::fetcher::ResolveForBroker(request, message.fds[0].get(), &Gateway(), client_));
    const std::string change = g_attack.substr(5);
    if (change == "drop-layer") plan.layers.pop_back();
    if (change == "reorder-layers") std::swap(plan.layers.front(), plan.layers.back());
    if (change == "duplicate-layer") plan.layers.push_back(plan.layers.front());
    if (change == "platform") plan.platform = "linux/arm64";
    if (change == "layer-size") plan.layers.front().size += 1;
    BANGER_TRY(channel_.Send(ipc::Message::Make(ipc::MessageType::kResolved, ipc::Encode(plan))));
    return true;
  }

  // A signature manifest of its own: one simple-signing layer for the digest asked about,
  // with a signature no key made; or a document shorter than it says.
  Result<bool> ForgeDocument(ipc::Message& message) {
    BANGER_ASSIGN_OR_RETURN(ipc::DocumentRequest request, ipc::Decode<ipc::DocumentRequest>(message.body));
    const std::string digest = "sha256:" + request.selector.substr(7, 64);
    payload_ = R"({"critical":{"identity":{"docker-reference":"anything"},"image":{"docker-manifest-digest":")" + digest +
               R"("},"type":"cosign container image signature"},"optional":null})";
    const std::string manifest = R"({"schemaVersion":2,"layers":[{"mediaType":"application/vnd.dev.cosign.simplesigning.v1+json","digest":")" +
                                 banger::Sha256DigestOf(payload_) + R"(","size":)" + std::to_string(payload_.size()) +
                                 R"(,"annotations":{"dev.cosignproject.cosign/signature":"MEUCIQD0000000000000000000000000000000000000000000000000000000000wIgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}}]})";
    BANGER_TRY(banger::PwriteAll(message.fds[0].get(), manifest, 0, "the forged manifest"));
    const uint64_t claimed = g_attack == "document-size" ? manifest.size() + 1 : manifest.size();
    BANGER_TRY(channel_.Send(ipc::Message::Make(ipc::MessageType::kDocumentFetched,
                                                ipc::Encode(ipc::DocumentFetched{true, "application/json", claimed}))));
    return true;
  }

  // What a request on `fd` got: "sent", or why not.
  static std::string Send(int fd) {
    static constexpr char kRequest[] = "GET /v2/ HTTP/1.0\r\n\r\n";
    return ::send(fd, kRequest, sizeof kRequest - 1, MSG_NOSIGNAL) < 0 ? std::strerror(errno) : "sent";
  }
  static sockaddr_in Loopback(uint16_t port) {
    sockaddr_in to{};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return to;
  }

  Result<bool> ReachTheHost(ipc::Message& message) {
    BANGER_ASSIGN_OR_RETURN(ipc::ResolveRequest request, ipc::Decode<ipc::ResolveRequest>(message.body));
    const auto port = static_cast<uint16_t>(std::stoi(g_attack.substr(11)));
    const auto loopback = *banger::ParseIpAddress("127.0.0.1");
    sockaddr_in victim = Loopback(port);
    // A socket of its own.
    UniqueFd own(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    (void)::connect(own.get(), reinterpret_cast<sockaddr*>(&victim), sizeof victim);
    const std::string direct = Send(own.get());
    // The gate, as itself and claiming the registry's name for the address.
    BANGER_ASSIGN_OR_RETURN(UniqueFd gate_fd, banger::DupCloexec(security::kFirstPassedFd));
    banger::fetcher::NetworkGateway gate(ipc::Channel(std::move(gate_fd), "gate"));
    auto as_itself = gate.Connect("127.0.0.1", loopback, port);
    const std::string registry_host_port = request.reference.substr(0, request.reference.find('/'));
    const std::string registry(banger::HostWithoutPort(registry_host_port));
    auto as_registry = gate.Connect(registry, loopback, port);
    // A socket the gate connected to the registry, disconnected and pointed at the victim.
    std::string moved = "no socket";
    const auto registry_port = static_cast<uint16_t>(std::stoi(registry_host_port.substr(registry_host_port.rfind(':') + 1)));
    if (auto socket = gate.Connect(registry, *banger::ParseIpAddress(registry), registry_port)) {
      const sockaddr unspecified{AF_UNSPEC, {}};
      (void)::connect(socket->get(), &unspecified, sizeof unspecified);
      (void)::connect(socket->get(), reinterpret_cast<sockaddr*>(&victim), sizeof victim);
      sockaddr_in peer{};
      socklen_t size = sizeof peer;
      const bool still = ::getpeername(socket->get(), reinterpret_cast<sockaddr*>(&peer), &size) == 0 &&
                         ntohs(peer.sin_port) == registry_port;
      moved = still ? "still the registry" : "moved";
    }
    const std::string report = "direct: " + direct + "; as itself: " +
                               (as_itself ? "connected" : as_itself.error().message) + "; as the registry: " +
                               (as_registry ? "connected" : as_registry.error().message) + "; reconnected: " + moved;
    BANGER_TRY(channel_.Send(ipc::MakeErrorMessage(banger::Error{banger::ErrorCode::kIo, report})));
    return true;
  }

  static void Rewrite(int fd) {
    struct stat st {};
    if (::fstat(fd, &st) != 0) return;
    const std::string poison(S_ISREG(st.st_mode) ? static_cast<size_t>(st.st_size) : 4096, 'X');
    if (S_ISREG(st.st_mode)) {
      (void)banger::PwriteAll(fd, poison, 0, "poison");
    } else {
      (void)banger::WriteAll(fd, poison, "poison");
    }
  }

  // The real service owns the gate's fd; the lie resolves through a duplicate of it.
  banger::fetcher::NetworkGateway& Gateway() {
    if (!gateway_) {
      auto fd = banger::DupCloexec(security::kFirstPassedFd);
      gateway_ = std::make_unique<banger::fetcher::NetworkGateway>(ipc::Channel(fd ? std::move(*fd) : UniqueFd(), "gate"));
    }
    return *gateway_;
  }

  ipc::Channel& channel_;
  std::unique_ptr<banger::fetcher::NetworkGateway> gateway_;
  security::MessageHandler real_;
  std::unique_ptr<banger::fetcher::RegistryClient> client_;  // for the plan it lies about
  std::vector<UniqueFd> kept_;
  std::string payload_;  // forge-signature's
};

}  // namespace

int main(int, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);  // a closed pipe is a failed write, not the end of the attack
  auto initialise = [self = std::string(argv[0])]() -> Result<void> {
    UniqueFd file(::open((self + ".attack").c_str(), O_RDONLY | O_CLOEXEC));
    if (!file) return banger::Error::FromErrno("reading " + self + ".attack");
    BANGER_ASSIGN_OR_RETURN(g_attack, banger::ReadWholeFd(file.get(), 4096, self + ".attack"));
    while (!g_attack.empty() && g_attack.back() == '\n') g_attack.pop_back();
    return banger::fetcher::InitialiseFetcher();
  };
  return security::RunHelper("banger-fetcher", security::ProcessKind::kFetcher, initialise,
                             [](ipc::Channel& channel) -> security::MessageHandler {
                               auto attacker = std::make_shared<Attacker>(channel);
                               return [attacker](ipc::Message& message) { return attacker->Serve(message); };
                             });
}
