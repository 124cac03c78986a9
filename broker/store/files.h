// The store's file operations: the only code in the broker that renames, links, flocks
// or fsyncs (docs/architecture.md, "The broker's rooms"). Each does one kernel operation
// and names it and the path when it fails.
#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>

#include "base/fd.h"
#include "base/result.h"

namespace banger::broker {

// The directory `path` is in: "/" for "/name", "." for a bare name.
std::string DirectoryOf(const std::string& path);

// Creates `path` and its missing parents with `mode` (existing ones are left as they are).
Result<void> MakeDirs(const std::string& path, mode_t mode);
// MakeDirs with 0700, then, when `path` is ours and group or others may enter it (a
// directory an older banger made 0755), 0700: what banger keeps is no local user's to
// read (docs/architecture.md, "The cache").
Result<void> MakePrivateDirs(const std::string& path);

// fsync of a file or a directory by path.
Result<void> FsyncPath(const std::string& path);
Result<void> FsyncFd(int fd, const std::string& what);
// Starts writeback of a range now (sync_file_range, without waiting), so that the
// fsync that publishes the file finds little left to write and does not stall the
// disk at the end. A hint: a failure here is the later fsync's to report.
void StartWriteback(int fd, uint64_t offset, uint64_t length);

// rename(2), then an fsync of the directory `to` is in, so the new name survives a crash.
Result<void> RenameDurably(const std::string& from, const std::string& to);

// Gives an unnamed file (O_TMPFILE) or any open file the name `path` (linkat through
// /proc/self/fd). LinkFd fails when the name is taken; LinkFdUnlessTaken says false.
Result<void> LinkFd(int fd, const std::string& path);
Result<bool> LinkFdUnlessTaken(int fd, const std::string& path);

// Opens (creating, 0644) and flock()s `path` with `operation` (LOCK_SH or LOCK_EX),
// waiting for it, retrying on EINTR; the lock lasts as long as the returned fd.
Result<UniqueFd> LockFile(const std::string& path, int operation);
// The same without waiting (LOCK_EX | LOCK_NB): nothing when someone else holds it.
Result<std::optional<UniqueFd>> TryLockFile(const std::string& path, mode_t mode = 0644);

// Writes a file through `fill` into an unnamed file in the target's directory, sets its
// mode (and owner root:root when `root_owned`), fsyncs it, and links it over `target`
// with a rename, so `target` is either the old file or the whole new one. Without
// `replace`, an existing `target` is kept and the write is a kInvalidArgument error.
struct AtomicFileOptions {
  mode_t mode = 0644;
  bool root_owned = false;
  bool replace = true;
};
Result<void> ReplaceFileAtomically(const std::string& target, const AtomicFileOptions& options,
                                   const std::function<Result<void>(int fd)>& fill);

// Removes a directory tree; what vanishes meanwhile is no error, nor is a missing tree.
void RemoveTree(const std::string& path);

}  // namespace banger::broker
