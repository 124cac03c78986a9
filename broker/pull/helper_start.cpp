#include "broker/pull/helper_start.h"

#include <system_error>

namespace banger::broker {

HelperStart::HelperStart(const HelperLauncher& launcher, security::ProcessKind kind) {
  try {
    thread_ = std::thread([this, launcher, kind] {
      auto started = launcher.Start(kind);
      std::unique_lock lock(mutex_);
      started_.emplace(std::move(started));
      changed_.notify_all();
      changed_.wait(lock, [this] { return released_; });
      started_.reset();  // the helper dies on the thread that forked it
    });
  } catch (const std::system_error&) {
    started_.emplace(launcher.Start(kind));  // no thread to spare: start it here
  }
}

HelperStart::~HelperStart() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    released_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

Result<security::SandboxedChild*> HelperStart::Get() {
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [this] { return started_.has_value(); });
  if (!*started_) return started_->error();
  return &**started_;
}

Result<GatedFetcher> StartGatedFetcher(const HelperLauncher& launcher, EgressPolicy policy) {
  policy.proxies = ProxiesOf(launcher.settings().fetcher_environment);
  UniqueFd fetcher_end;
  BANGER_ASSIGN_OR_RETURN(std::unique_ptr<NetworkGate> gate, NetworkGate::Open(std::move(policy), fetcher_end));
  std::vector<UniqueFd> passed;
  passed.push_back(std::move(fetcher_end));
  BANGER_ASSIGN_OR_RETURN(security::SandboxedChild child,
                          launcher.Start(security::ProcessKind::kFetcher, std::move(passed)));
  return GatedFetcher{std::move(gate), std::move(child)};
}

}  // namespace banger::broker
