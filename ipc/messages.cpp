#include "ipc/messages.h"

#include <array>

namespace banger::ipc {
namespace {

constexpr std::array kSpecs = {
    MessageSpec{MessageType::kSandboxConfig, "sandbox-config", 0, 0},
    MessageSpec{MessageType::kLocked, "locked", 0, 0},
    MessageSpec{MessageType::kError, "error", 0, 0},
    MessageSpec{MessageType::kShutdown, "shutdown", 0, 0},
    MessageSpec{MessageType::kPing, "ping", 0, 4},
    MessageSpec{MessageType::kPong, "pong", 0, 4},
    MessageSpec{MessageType::kLimitFileSize, "limit-file-size", 0, 0},
    MessageSpec{MessageType::kFileSizeLimited, "file-size-limited", 0, 0},
    MessageSpec{MessageType::kResolve, "resolve", 1, 1},
    MessageSpec{MessageType::kResolved, "resolved", 0, 0},
    MessageSpec{MessageType::kFetchBlob, "fetch-blob", 1, 1},
    MessageSpec{MessageType::kBlobDone, "blob-done", 0, 0},
    MessageSpec{MessageType::kFetchUrl, "fetch-url", 1, 1},
    MessageSpec{MessageType::kFetchDocument, "fetch-document", 1, 1},
    MessageSpec{MessageType::kDocumentFetched, "document-fetched", 0, 0},
    MessageSpec{MessageType::kNetResolve, "net-resolve", 0, 0},
    MessageSpec{MessageType::kNetAddresses, "net-addresses", 0, 0},
    MessageSpec{MessageType::kNetConnect, "net-connect", 0, 0},
    MessageSpec{MessageType::kNetConnected, "net-connected", 1, 1},
    MessageSpec{MessageType::kNetPermit, "net-permit", 0, 0},
    MessageSpec{MessageType::kUnpackBegin, "unpack-begin", 3, 3},
    MessageSpec{MessageType::kUnpackLayer, "unpack-layer", 1, 1},
    MessageSpec{MessageType::kUnpackProgress, "unpack-progress", 0, 0},
    MessageSpec{MessageType::kUnpackDone, "unpack-done", 0, 0},
    MessageSpec{MessageType::kExtractBundle, "extract-bundle", 2, 2},
    MessageSpec{MessageType::kBundleExtracted, "bundle-extracted", 0, 0},
    MessageSpec{MessageType::kImageBegin, "image-begin", 2, 2},
    MessageSpec{MessageType::kImageDone, "image-done", 0, 0},
    MessageSpec{MessageType::kDaemonRequest, "daemon-request", 0, 1},
    MessageSpec{MessageType::kDaemonStdout, "daemon-stdout", 0, 0},
    MessageSpec{MessageType::kDaemonStderr, "daemon-stderr", 0, 0},
    MessageSpec{MessageType::kDaemonExit, "daemon-exit", 0, 0},
    MessageSpec{MessageType::kDaemonCancel, "daemon-cancel", 0, 0},
};
static_assert(kSpecs.size() <= 255);

}  // namespace

std::span<const MessageSpec> AllMessageSpecs() { return kSpecs; }

const MessageSpec* FindMessageSpec(uint32_t raw_type) {
  for (const auto& spec : kSpecs) {
    if (static_cast<uint32_t>(spec.type) == raw_type) return &spec;
  }
  return nullptr;
}

const char* MessageTypeName(MessageType type) {
  const MessageSpec* spec = FindMessageSpec(static_cast<uint32_t>(type));
  return spec ? spec->name : "unknown";
}

}  // namespace banger::ipc
