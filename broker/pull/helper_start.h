// Starts a helper on a thread of its own, so that its sandbox set-up (namespaces, the
// readiness handshake) overlaps whatever the pull does meanwhile. The thread lives as
// long as the helper is needed: a helper's parent-death signal fires when the thread
// that forked it ends. The helper is killed when this object goes.
#pragma once

#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include "base/result.h"
#include "broker/host/helpers.h"
#include "broker/registry/network_gate.h"
#include "security/spawn.h"

namespace banger::broker {

// How long the unpacker and the imager get to exit once told their work is done.
inline constexpr int kHelperShutdownTimeoutMs = 10000;

class HelperStart {
 public:
  HelperStart(const HelperLauncher& launcher, security::ProcessKind kind);
  ~HelperStart();
  HelperStart(const HelperStart&) = delete;
  HelperStart& operator=(const HelperStart&) = delete;

  // Waits for the start; the helper, or why it could not start.
  Result<security::SandboxedChild*> Get();

 private:
  std::mutex mutex_;
  std::condition_variable changed_;
  std::optional<Result<security::SandboxedChild>> started_;
  bool released_ = false;
  std::thread thread_;
};

// The fetcher with its network gate (network_gate.h): the fetcher goes first, then the
// gate that served it.
struct GatedFetcher {
  std::unique_ptr<NetworkGate> gate;
  security::SandboxedChild child;
};
Result<GatedFetcher> StartGatedFetcher(const HelperLauncher& launcher, EgressPolicy policy);

}  // namespace banger::broker
