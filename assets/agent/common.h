// Shared pieces of banger-vsock-agent: one-line logging, small file I/O. The agent is a
// static guest binary: of the project it compiles in only base/fd.cpp and
// base/result.cpp, which need nothing but the C++ runtime (docs/guest.md).
#pragma once

#include <unistd.h>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "base/fd.h"

namespace banger::agent {

// The project's owning fd and write-all (base/fd.h), compiled into this static binary.
using banger::UniqueFd;

// The name messages start with: "banger-vsock-agent" or "banger-network-bootstrap".
void SetProgramName(std::string_view name);
const std::string& ProgramName();

// "<program>: <message>" on stderr, in one write (safe under the agent's seccomp filter).
void LogLine(std::string_view message);
// "<program>: error: <message>" on stderr.
void LogError(std::string_view message);
// "<program>: <message>" on stdout (the bootstrap's per-action lines).
void Say(std::string_view message);

// The errno description, untranslated (strerrordesc_np: no locale files, no gettext).
std::string ErrnoText(int err);

// base/fd.h's WriteAll, as a yes or no.
bool WriteAll(int fd, std::string_view data);

// Reads a whole small file (at most `limit` bytes; longer is an error, EFBIG).
// On failure returns nullopt with `*err` set to the errno.
std::optional<std::string> ReadSmallFile(const std::string& path, size_t limit, int* err);

}  // namespace banger::agent
