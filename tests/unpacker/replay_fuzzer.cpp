// libFuzzer target for the unpacker's tar-to-tree path: any bytes, as a layer (gzip,
// zstd or tar, sniffed), replayed into a tree and streamed out. Errors are fine;
// crashes, leaks and undefined behaviour are not. A layer that replays must give a
// tree stream the imager's reader accepts, every record of it.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include "base/fd.h"
#include "ipc/tree_stream.h"
#include "unpacker/replay.h"

namespace {

using namespace banger;

Result<unpacker::ReplayOutcome> Replay(int layer, const std::string& diff_id, int spool, int tree) {
  unpacker::ReplayLimits limits;
  limits.stream.max_uncompressed_bytes = 8 << 20;
  limits.tree.max_entries = 4096;
  limits.tree.max_depth = 256;
  std::vector<unpacker::LayerInput> layers = {{layer, "sha256:" + std::string(64, 'f'), "fuzz"}};
  return unpacker::ReplayLayers(layers, {diff_id}, spool, tree, limits);
}

// Reads the whole stream back as the imager would; a record it refuses is a bug.
void DecodeAll(int tree) {
  ::lseek(tree, 0, SEEK_SET);
  ipc::TreeStreamReader reader(tree);
  auto summary = reader.ReadSummary();
  if (!summary) std::abort();
  uint64_t records = 0;
  for (;;) {
    auto next = reader.Next();
    if (!next) std::abort();
    if (!*next) break;
    ++records;
  }
  if (records != summary->entries) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  UniqueFd layer(::memfd_create("layer", MFD_CLOEXEC));
  if (::write(layer.get(), data, size) != static_cast<ssize_t>(size)) return 0;
  // First with a diff_id that cannot match: the error names the one the bytes have.
  UniqueFd spool(::memfd_create("spool", MFD_CLOEXEC)), tree(::memfd_create("tree", MFD_CLOEXEC));
  auto first = Replay(layer.get(), "sha256:" + std::string(64, '0'), spool.get(), tree.get());
  if (first) std::abort();  // impossible: the diff_id is wrong
  if (first.error().message.empty()) std::abort();
  const std::string marker = "hashes to sha256:";
  const size_t at = first.error().message.find(marker);
  if (at == std::string::npos) return 0;  // refused before its end: nothing more to check
  const std::string diff_id = first.error().message.substr(at + marker.size() - 7, 71);
  // Then with that diff_id, so that the tree is emitted, and read back.
  UniqueFd spool2(::memfd_create("spool", MFD_CLOEXEC)), tree2(::memfd_create("tree", MFD_CLOEXEC));
  auto second = Replay(layer.get(), diff_id, spool2.get(), tree2.get());
  if (!second) std::abort();  // the same bytes, now with their own diff_id
  DecodeAll(tree2.get());
  return 0;
}
