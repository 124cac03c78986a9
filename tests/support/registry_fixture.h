// The real distribution registry on 127.0.0.1 for integration tests, started through
// tests/fixtures/registry.py with its own config, plus the image builder/pusher.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/support/test_support.h"

namespace banger::testing {

std::string FixturesDir();

// A fixture script run in the background until this object goes: it must print a line
// with `ready port=N` once it serves.
class FixtureProcess {
 public:
  FixtureProcess() = default;
  FixtureProcess(FixtureProcess&& other) noexcept : pid_(std::exchange(other.pid_, -1)), ready_line_(std::move(other.ready_line_)) {}
  ~FixtureProcess() { Stop(); }
  // Fails the calling test and returns false when it does not become ready in 40 s.
  bool Start(const std::vector<std::string>& argv);
  int port() const;
  pid_t pid() const { return pid_; }
  const std::string& ready_line() const { return ready_line_; }
  void Stop();

 private:
  pid_t pid_ = -1;
  std::string ready_line_;
};

// Runs a fixture inside network namespace `netns` (ip netns exec) when it is not empty.
std::vector<std::string> InNetns(const std::string& netns, std::vector<std::string> argv);

// tests/fixtures/proxy.py in front of `upstream`, with its flags; on `address` inside
// `netns` when they are given.
class TestProxy {
 public:
  static std::unique_ptr<TestProxy> Start(const std::string& upstream, const std::vector<std::string>& flags,
                                          const std::string& netns = "", const std::string& address = "127.0.0.1");
  std::string host() const { return address_ + ":" + std::to_string(process_.port()); }
  std::vector<nlohmann::json> Log() const;

 private:
  TestProxy() : dir_("banger-proxy") {}
  ScratchDir dir_;
  FixtureProcess process_;
  std::string address_;
};

class TestRegistry {
 public:
  struct Options {
    std::string htpasswd;  // "user:pass": basic auth
    std::string token;     // "user:pass": bearer auth through a loopback token server
    bool tls = false;      // HTTPS with a certificate signed by root()/ca.crt
    std::string netns;     // run inside this network namespace (ip netns exec)
    std::string address = "127.0.0.1";
  };
  // Fails the calling test (ADD_FAILURE) and returns null when the registry cannot start.
  static std::unique_ptr<TestRegistry> Start(const Options& options);
  static std::unique_ptr<TestRegistry> Start() { return Start(Options{}); }
  ~TestRegistry();

  const std::string& host() const { return host_; }  // "ADDRESS:PORT", 127.0.0.1 by default
  const std::string& root() const { return dir_.path(); }
  // Runs `oci.py push` with these extra arguments; returns its JSON (null on failure).
  nlohmann::json Push(const std::string& repo, const std::string& tag, const std::vector<std::string>& args = {},
                      const std::string& user = "");
  // Pushes an OCI image layout (`layout_dir`, tag `layout_tag`) with skopeo as repo:tag.
  bool PushLayout(const std::string& layout_dir, const std::string& layout_tag, const std::string& repo,
                  const std::string& tag);
  // Flips one byte of a stored blob.
  void Tamper(const std::string& digest);
  // How often the registry's access log shows `needle` (e.g. "GET /v2/app/blobs/").
  int CountInLog(const std::string& needle) const;
  void Stop();

 private:
  TestRegistry() : dir_("banger-registry") {}
  ScratchDir dir_;
  FixtureProcess process_;
  std::string host_;
  bool tls_ = false;
};

}  // namespace banger::testing
