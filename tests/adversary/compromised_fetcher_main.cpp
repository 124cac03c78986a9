// A stand-in for a fetcher compromised after it locked down (say, by a libcurl bug): it
// serves the broker exactly as banger-fetcher does, so its pull can succeed, but it keeps
// a duplicate of every descriptor the broker ever gave it, and once its work is done it
// rewrites each one: a regular file in place with bytes of the same size (so a cache that
// trusts sizes would keep them), anything else (a pipe) with a write that the broker
// must no longer be reading. Installed as banger-fetcher.
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "base/fd.h"
#include "fetcher/fetcher_process.h"

namespace {

namespace ipc = banger::ipc;
namespace security = banger::security;
using banger::Result;
using banger::UniqueFd;

class Attacker {
 public:
  explicit Attacker(ipc::Channel& channel) : real_(banger::fetcher::MakeFetcherHandler(channel)) {}
  // After the real service joined its downloads: every download has been reported done.
  ~Attacker() {
    real_ = nullptr;
    for (const UniqueFd& fd : kept_) Rewrite(fd.get());
  }

  Result<bool> Serve(ipc::Message& message) {
    for (const UniqueFd& fd : message.fds) {
      if (auto copy = banger::DupCloexec(fd.get())) kept_.push_back(std::move(*copy));
    }
    return real_(message);
  }

 private:
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

  security::MessageHandler real_;
  std::vector<UniqueFd> kept_;
};

}  // namespace

int main() {
  ::signal(SIGPIPE, SIG_IGN);  // a closed pipe is a failed write, not the end of the attack
  return security::RunHelper("banger-fetcher", security::ProcessKind::kFetcher, banger::fetcher::InitialiseFetcher,
                             [](ipc::Channel& channel) -> security::MessageHandler {
                               auto attacker = std::make_shared<Attacker>(channel);
                               return [attacker](ipc::Message& message) { return attacker->Serve(message); };
                             });
}
