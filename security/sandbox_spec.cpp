#include "security/sandbox_spec.h"

#include <pwd.h>
#include <unistd.h>

#include <utility>

#include <nlohmann/json.hpp>

namespace banger::security {

const char* ProcessKindName(ProcessKind kind) {
  switch (kind) {
    case ProcessKind::kFetcher: return "fetcher";
    case ProcessKind::kUnpacker: return "unpacker";
    case ProcessKind::kImager: return "imager";
  }
  return "?";
}

std::string HelperExecutableName(ProcessKind kind) { return std::string("banger-") + ProcessKindName(kind); }

Result<ProcessKind> ParseProcessKind(const std::string& name) {
  for (ProcessKind kind : {ProcessKind::kFetcher, ProcessKind::kUnpacker, ProcessKind::kImager}) {
    if (name == ProcessKindName(kind)) return kind;
  }
  return Error{ErrorCode::kInvalidArgument, "unknown process kind '" + name + "'"};
}

SandboxSpec DefaultSpec(ProcessKind kind) {
  constexpr uint64_t kMiB = 1024 * 1024;
  constexpr uint64_t kGiB = 1024 * kMiB;
  SandboxSpec spec;
  spec.kind = kind;
  switch (kind) {
    case ProcessKind::kFetcher:
      // A network namespace of its own, empty, like every helper's: the broker resolves
      // its names and connects its sockets (broker/registry/network_gate.h). It needs CA
      // certificates.
      for (const char* path : {"/etc/ssl/certs", "/usr/share/ca-certificates"}) spec.BindReadOnly(path);
      // It writes no file but the manifest (a memfd, a few MiB at most): every blob goes
      // through a pipe the broker drains (docs/architecture.md, I8).
      spec.limits = {.address_space_bytes = 2 * kGiB, .open_files = 256, .file_size_bytes = 256 * kMiB,
                     .cpu_seconds = 3600, .processes = 256};
      break;
    case ProcessKind::kUnpacker:
      spec.limits = {.address_space_bytes = 1 * kGiB, .open_files = 256, .file_size_bytes = 256 * kGiB,
                     .cpu_seconds = 3600, .processes = 256};
      break;
    case ProcessKind::kImager:
      spec.limits = {.address_space_bytes = 1 * kGiB, .open_files = 128, .file_size_bytes = 1024 * kGiB,
                     .cpu_seconds = 3600, .processes = 256};
      break;
  }
  return spec;
}

void SandboxSpec::BindReadOnly(const std::string& host_path, const std::string& target) {
  const std::string inside = target.empty() ? host_path : target;
  std::erase_if(readonly_binds, [&](const Bind& b) { return b.target == inside; });
  readonly_binds.push_back({host_path, inside});
}

SandboxIdentity ResolveSandboxIdentity(const std::string& preferred_user) {
  for (const std::string& name : {preferred_user, std::string("banger"), std::string("nobody")}) {
    if (name.empty()) continue;
    if (const passwd* pw = ::getpwnam(name.c_str()); pw != nullptr && pw->pw_uid != 0) {
      return {pw->pw_uid, pw->pw_gid, name};
    }
  }
  return {65534, 65534, "65534"};
}

SandboxSpec SpecForCurrentBroker(ProcessKind kind, const std::string& preferred_user) {
  SandboxSpec spec = DefaultSpec(kind);
  if (::geteuid() == 0) {
    SandboxIdentity who = ResolveSandboxIdentity(preferred_user);
    spec.uid = who.uid;
    spec.gid = who.gid;
  } else {
    spec.use_user_namespace = true;
  }
  return spec;
}

nlohmann::json SpecToJson(const SandboxSpec& spec) {
  return {
      {"kind", ProcessKindName(spec.kind)},
      {"use_user_namespace", spec.use_user_namespace},
      {"uid", spec.uid},
      {"gid", spec.gid},
      {"new_network_namespace", spec.new_network_namespace},
      {"readonly_binds", [&] {
         auto binds = nlohmann::json::array();
         for (const auto& b : spec.readonly_binds) binds.push_back({{"source", b.source}, {"target", b.target}});
         return binds;
       }()},
      {"limits",
       {{"address_space_bytes", spec.limits.address_space_bytes},
        {"open_files", spec.limits.open_files},
        {"file_size_bytes", spec.limits.file_size_bytes},
        {"cpu_seconds", spec.limits.cpu_seconds},
        {"processes", spec.limits.processes}}},
  };
}

Result<SandboxSpec> SpecFromJson(const nlohmann::json& json) {
  try {
    SandboxSpec spec;
    BANGER_ASSIGN_OR_RETURN(spec.kind, ParseProcessKind(json.at("kind").get<std::string>()));
    spec.use_user_namespace = json.at("use_user_namespace").get<bool>();
    spec.uid = json.at("uid").get<uid_t>();
    spec.gid = json.at("gid").get<gid_t>();
    spec.new_network_namespace = json.at("new_network_namespace").get<bool>();
    for (const auto& b : json.at("readonly_binds")) {
      spec.readonly_binds.push_back({b.at("source").get<std::string>(), b.at("target").get<std::string>()});
    }
    const auto& limits = json.at("limits");
    spec.limits.address_space_bytes = limits.at("address_space_bytes").get<uint64_t>();
    spec.limits.open_files = limits.at("open_files").get<uint64_t>();
    spec.limits.file_size_bytes = limits.at("file_size_bytes").get<uint64_t>();
    spec.limits.cpu_seconds = limits.at("cpu_seconds").get<uint64_t>();
    spec.limits.processes = limits.at("processes").get<uint64_t>();
    for (const auto& bind : spec.readonly_binds) {
      for (const std::string& path : {bind.source, bind.target}) {
        if (path.empty() || path[0] != '/' || path.find("/..") != std::string::npos) {
          return Error{ErrorCode::kInvalidArgument, "sandbox bind path must be absolute and clean: '" + path + "'"};
        }
      }
    }
    return spec;
  } catch (const nlohmann::json::exception& e) {
    return Error{ErrorCode::kMalformed, std::string("invalid sandbox spec: ") + e.what()};
  }
}

}  // namespace banger::security
