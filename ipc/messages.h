// Every message type that crosses a process boundary, declared once, with how many
// file descriptors each may carry. Receivers refuse anything not in this table.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace banger::ipc {

enum class MessageType : uint32_t {
  // Lifecycle, shared by every helper.
  kSandboxConfig = 1,  // broker -> child: the SandboxSpec (JSON) to lock down with
  kLocked = 2,         // child -> broker: locked down, ready for untrusted work
  kError = 3,          // either way: {"message": "..."}; the sender gives up
  kShutdown = 4,       // broker -> child: finish and exit 0
  kPing = 5,           // broker -> child: liveness / work probe; may carry fds
  kPong = 6,           // child -> broker: answer to kPing; may carry fds
  kLimitFileSize = 7,  // broker -> child: {bytes}; lower RLIMIT_FSIZE, before any untrusted byte of the job
  kFileSizeLimited = 8,  // child -> broker: done (the broker then reads /proc/<pid>/limits)

  // Fetcher (issue 3).
  kResolve = 20,       // broker -> fetcher: reference, platform, credentials; fd: manifest sink
  kResolved = 21,      // fetcher -> broker: the plan (digests, sizes, media types)
  kFetchBlob = 22,     // broker -> fetcher: {id, digest, size}; fd: the write end of a pipe for the bytes
  // 23 was blob-progress: the broker counts the bytes in the pipe itself.
  kBlobDone = 24,      // fetcher -> broker: {id, bytes}; every byte is in the pipe, which it closed
  kFetchUrl = 25,      // broker -> fetcher: {id, url, max_bytes}; fd: the write end of a pipe for the bytes
  kFetchDocument = 31,    // broker -> fetcher: {selector, referrers}; fd: where the document goes
  kDocumentFetched = 32,  // fetcher -> broker: {found, media_type, size}

  // The fetcher's way out, on a channel of its own (net_protocol.h): it asks, the broker answers.
  kNetResolve = 26,    // fetcher -> broker: {host}; the broker resolves it, once per fetcher
  kNetAddresses = 27,  // broker -> fetcher: {addresses}; the answer to kNetResolve and kNetPermit
  kNetConnect = 28,    // fetcher -> broker: {host, address, port}; the broker applies the egress rule
  kNetConnected = 29,  // broker -> fetcher: fd: a TCP socket the broker connected
  kNetPermit = 30,     // fetcher -> broker: {host, port} a proxy is to be asked for; no socket

  // Unpacker (issue 4).
  kUnpackBegin = 40,   // broker -> unpacker: layers, bounds; fds: config, image data region (wo), tree stream out
  kUnpackLayer = 41,   // broker -> unpacker: {index, grows_to?}; fd: the layer blob (read-only), still
                       // downloading when grows_to (its final size) is given
  kUnpackProgress = 42,  // unpacker -> broker: {layer, bytes, entries}
  kUnpackDone = 43,    // unpacker -> broker: summary and warnings
  kExtractBundle = 44,  // broker -> unpacker: bounds; fds: the bundle (ro), rootfs.ext4 out (rw)
  kBundleExtracted = 45,  // unpacker -> broker: {manifest, rootfs_bytes}

  // Imager (issue 5).
  kImageBegin = 60,    // broker -> imager: size, identity, data region; fds: image (rw), tree stream (ro)
  kImageDone = 61,     // imager -> broker: filesystem and content sizes

  // The daemon's socket (daemon_protocol.h): a client asks, bangerd runs the command.
  kDaemonRequest = 80,  // client -> daemon: {args, terminal, columns, credentials?}; fd: image bundle's --out
  kDaemonStdout = 81,   // daemon -> client: raw bytes for the client's stdout
  kDaemonStderr = 82,   // daemon -> client: raw bytes for the client's stderr
  kDaemonExit = 83,     // daemon -> client: {status}; the last message
  kDaemonCancel = 84,   // client -> daemon: {}; stop the request (Ctrl-C)
};

struct MessageSpec {
  MessageType type;
  const char* name;
  uint8_t min_fds;
  uint8_t max_fds;
};

// Bounds every receiver enforces (OpenSSH uses 4 MiB; bulk data travels as fds here,
// so control frames stay small and fit one SOCK_SEQPACKET datagram).
inline constexpr size_t kMaxBodyBytes = 64 * 1024;
inline constexpr size_t kMaxFdsPerMessage = 16;

std::span<const MessageSpec> AllMessageSpecs();
const MessageSpec* FindMessageSpec(uint32_t raw_type);
const char* MessageTypeName(MessageType type);

}  // namespace banger::ipc
