// What a sandboxed helper may do, as data. The broker fills one in per child and sends
// it as the first message; the child applies it to itself (lockdown.h) before it reads
// a single untrusted byte.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "base/result.h"

namespace banger::security {

enum class ProcessKind { kFetcher, kUnpacker, kImager };

const char* ProcessKindName(ProcessKind kind);            // "fetcher"
std::string HelperExecutableName(ProcessKind kind);       // "banger-fetcher"
Result<ProcessKind> ParseProcessKind(const std::string& name);

// Every bound is named and adjustable (invariant I7); 0 means "leave as inherited".
struct ResourceLimits {
  uint64_t address_space_bytes = 0;  // RLIMIT_AS (not applied under AddressSanitizer)
  uint64_t open_files = 0;           // RLIMIT_NOFILE
  uint64_t file_size_bytes = 0;      // RLIMIT_FSIZE
  uint64_t cpu_seconds = 0;          // RLIMIT_CPU
  uint64_t processes = 0;            // RLIMIT_NPROC (threads count against it)
};

struct SandboxSpec {
  ProcessKind kind = ProcessKind::kUnpacker;
  // When the broker is root the child switches to these ids; otherwise it enters a
  // user namespace that maps only the broker's own ids, and these are ignored.
  bool use_user_namespace = false;
  uid_t uid = 65534;
  gid_t gid = 65534;
  bool new_network_namespace = true;
  // Host files or directories shown read-only in the otherwise empty root. A source
  // that does not exist on the host is left out.
  struct Bind {
    std::string source;  // host path
    std::string target;  // path inside the sandbox
    bool operator==(const Bind&) const = default;
  };
  std::vector<Bind> readonly_binds;
  // Shows `host_path` at the same path inside, or replaces what shows at `target`.
  void BindReadOnly(const std::string& host_path, const std::string& target = "");
  ResourceLimits limits;
};

// The policy each kind gets unless the broker's configuration adjusts it.
SandboxSpec DefaultSpec(ProcessKind kind);

// The unprivileged identity children run as when the broker is root: `preferred_user`
// (the config's `user`) if it exists, else the dedicated "banger" user, else "nobody";
// a user with uid 0 is never chosen. Resolved in the broker, never in a child.
struct SandboxIdentity {
  uid_t uid;
  gid_t gid;
  std::string name;
};
SandboxIdentity ResolveSandboxIdentity(const std::string& preferred_user = "");

// Fills in uid/gid (as ResolveSandboxIdentity picks them) or the user-namespace choice
// for the calling (broker) process.
SandboxSpec SpecForCurrentBroker(ProcessKind kind, const std::string& preferred_user = "");

nlohmann::json SpecToJson(const SandboxSpec& spec);
Result<SandboxSpec> SpecFromJson(const nlohmann::json& json);

}  // namespace banger::security
