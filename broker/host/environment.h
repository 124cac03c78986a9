// What banger takes from the process environment. The command line reads it once
// (cli/context.cpp, the only code that calls getenv) and every lower room gets the
// values it needs as arguments, so a daemon can serve a request with the client's.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace banger::broker {

struct HostEnvironment {
  bool root = false;             // the effective uid is 0
  bool stdout_terminal = false;  // stdout is a terminal that takes escapes (TERM is set, not "dumb")
  uint64_t terminal_columns = 0; // its width, 0 when unknown
  std::string daemon_host;       // $BANGER_HOST: "unix:///path" of a bangerd to ask
  std::string home;              // $HOME
  std::string xdg_cache_home;    // $XDG_CACHE_HOME
  std::string xdg_state_home;    // $XDG_STATE_HOME
  std::string state_dir;         // $BANGER_STATE_DIR
  std::string cache_dir;         // $BANGER_CACHE_DIR
  std::string config_path;       // $BANGER_CONFIG
  std::string catalog;           // $BANGER_CATALOG
  std::string tmpdir;            // $TMPDIR
  std::string docker_config;     // $DOCKER_CONFIG
  std::vector<std::string> proxy_settings;  // "HTTPS_PROXY=...", what the fetcher is given
  // Every variable, "KEY=VALUE": what a docker credential helper runs with, as docker
  // runs it on the user's behalf.
  std::vector<std::string> variables;
  // $BANGER_TEST_STALL, read only by builds configured for the test suite (pull.h).
  std::string test_stall_file;
};

}  // namespace banger::broker
