// What the banger command line and bangerd say to each other on the daemon's socket
// (messages.h kDaemonRequest..kDaemonCancel), in the same frames as the helpers' (frame.h),
// one SOCK_SEQPACKET datagram each. The daemon reads a request from a local user it does
// not trust, so every field has a bound and decoding is strict (fields.h); who asks is
// never in the request: the daemon asks the kernel (docs/multi-tenant.md).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ipc/fields.h"

namespace banger::ipc {

inline constexpr size_t kMaxRequestArgs = 128;
inline constexpr size_t kMaxRequestArgBytes = 4096;
inline constexpr uint64_t kMaxTerminalColumns = 4096;
inline constexpr uint64_t kMaxExitStatus = 255;
// Output travels as raw bytes in the body of kDaemonStdout/kDaemonStderr, at most this
// many per frame.
inline constexpr size_t kMaxOutputChunkBytes = 32 * 1024;

inline constexpr size_t kMaxForwardedCredentialBytes = 16 * 1024;
inline constexpr size_t kMaxRegistryNameBytes = 255;

// The client's own credentials for the one registry its request names, as its docker
// config and credential helpers gave them to the client (the daemon reads no user's
// files); the daemon uses them for that registry in that request only, and keeps them
// nowhere.
struct ForwardedCredentials {
  static constexpr const char* kName = "credentials";
  std::string registry;
  std::string username;
  std::string password;
  std::string identity_token;
  bool operator==(const ForwardedCredentials&) const = default;
  template <class Self, class V>
  static void Fields(Self& s, V& v) {
    v.String("registry", s.registry, kMaxRegistryNameBytes);
    v.String("username", s.username, kMaxForwardedCredentialBytes);
    v.String("password", s.password, kMaxForwardedCredentialBytes);
    v.String("identity_token", s.identity_token, kMaxForwardedCredentialBytes);
  }
};

// kDaemonRequest: the command line after "banger", and how the client's stdout looks.
struct DaemonRequest {
  static constexpr const char* kName = "daemon-request";
  std::vector<std::string> args;
  bool terminal = false;  // the client's stdout is a terminal (live progress)
  uint64_t columns = 0;   // its width, 0 when unknown
  std::optional<ForwardedCredentials> credentials;
  bool operator==(const DaemonRequest&) const = default;
  template <class Self, class V>
  static void Fields(Self& s, V& v) {
    v.Strings("args", s.args, kMaxRequestArgs, kMaxRequestArgBytes).Bool("terminal", s.terminal);
    v.Uint("columns", s.columns, kMaxTerminalColumns).OptionalObject("credentials", s.credentials);
  }
};

// kDaemonExit: the request ended with this exit status; nothing follows.
struct DaemonExit {
  static constexpr const char* kName = "daemon-exit";
  uint64_t status = 0;
  bool operator==(const DaemonExit&) const = default;
  template <class Self, class V>
  static void Fields(Self& s, V& v) {
    v.Uint("status", s.status, kMaxExitStatus);
  }
};

// kDaemonCancel: the client was interrupted (Ctrl-C); the daemon stops the request as
// SIGINT stops a pull, publishing nothing, and still answers with kDaemonExit.
struct DaemonCancel {
  static constexpr const char* kName = "daemon-cancel";
  bool operator==(const DaemonCancel&) const = default;
  template <class Self, class V>
  static void Fields(Self&, V&) {}
};

}  // namespace banger::ipc
