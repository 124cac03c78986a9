#include "imager/imager_process.h"

#include <ext2fs/ext2fs.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <malloc.h>
#include <unistd.h>

#include <memory>

#include "imager/ext4_writer.h"
#include "ipc/filesystem_plan.h"
#include "ipc/image_protocol.h"
#include "ipc/tree_stream.h"
#include "security/helper_session.h"

namespace banger::imager {
namespace {

constexpr int kHeapFillByte = 0xff;  // allocations read as 0x00 (the complement)

// The image file at the filesystem's size, its data region kept: whatever else is in it
// (the unpacker could write anywhere, compromised) is cut or punched away before a table
// can land there.
Result<void> PrepareImageFile(int image, const FsParameters& params, uint64_t filesystem_bytes) {
  const uint64_t region_end = ipc::DataRegionEnd(params.region_start, params.region_bytes);
  if (::ftruncate(image, static_cast<off_t>(region_end)) != 0) {
    return Error::FromErrno("cutting the image file at its data region (ftruncate)");
  }
  if (::fallocate(image, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, static_cast<off_t>(params.region_start)) != 0) {
    return Error::FromErrno("clearing the image file before its data region (fallocate)");
  }
  if (filesystem_bytes < region_end) return Error{ErrorCode::kInvalidArgument, "the filesystem is smaller than its data region"};
  if (::ftruncate(image, static_cast<off_t>(filesystem_bytes)) != 0) return Error::FromErrno("sizing the image file (ftruncate)");
  return {};
}

// One image per process: image-begin, then image-done.
class ImagerService {
 public:
  explicit ImagerService(ipc::Channel& channel) : channel_(channel) {}
  Result<void> Build(ipc::Message& request);

 private:
  ipc::Channel& channel_;
};

Result<void> ImagerService::Build(ipc::Message& request) {
  BANGER_ASSIGN_OR_RETURN(ipc::ImageRequest body, ipc::Decode<ipc::ImageRequest>(request.body));
  const int image = request.fds[0].get();
  ipc::TreeStreamReader tree(request.fds[1].get());
  BANGER_ASSIGN_OR_RETURN(ipc::TreeSummary summary, tree.ReadSummary());
  BANGER_ASSIGN_OR_RETURN(ipc::FilesystemPlan plan, ipc::PlanFilesystem(summary, body.size_bytes, body.region_bytes));
  FsParameters params;
  params.size_bytes = plan.filesystem_bytes;
  params.inode_count = plan.inode_count;
  params.uuid = body.uuid;
  params.hash_seed = body.hash_seed;
  params.timestamp = body.timestamp;
  params.region_start = ipc::kDataRegionStart;
  params.region_bytes = body.region_bytes;
  for (const std::string& digest : body.layer_digests) params.layer_names.push_back("layer " + digest);
  BANGER_TRY(PrepareImageFile(image, params, plan.filesystem_bytes));
  // libext2fs closes the descriptor it is given: it gets a duplicate, ours is flushed after.
  BANGER_ASSIGN_OR_RETURN(UniqueFd for_libext2fs, DupCloexec(image));
  BANGER_ASSIGN_OR_RETURN(std::unique_ptr<Ext4Writer> fs, Ext4Writer::Create(std::move(for_libext2fs), image, params));
  uint64_t entries = 0;
  for (;;) {
    BANGER_ASSIGN_OR_RETURN(std::optional<ipc::TreeEntry> entry, tree.Next());
    if (!entry) break;
    ++entries;
    BANGER_TRY(fs->Add(*entry));
  }
  if (entries != summary.entries) {
    return Error{ErrorCode::kMalformed, "the tree stream held " + std::to_string(entries) + " records, its summary " +
                                            std::to_string(summary.entries)};
  }
  BANGER_TRY(fs->Finish());
  if (::fdatasync(image) != 0) return Error::FromErrno("flushing the image");
  const ipc::ImageSummary done{plan.filesystem_bytes, plan.content_bytes, plan.inode_count, entries, fs->blocks_used()};
  return channel_.Send(ipc::Message::Make(ipc::MessageType::kImageDone, ipc::Encode(done)));
}

Result<void> InitialiseLibext2fs() {
  initialize_ext2_error_table();  // com_err tables, so libext2fs errors read as text
  // libext2fs writes some blocks from malloc'd buffers it never clears (an htree leaf
  // split, for one), so their unused tails would hold whatever the heap held and two
  // runs would differ. glibc's perturb option fills every allocation with one byte.
  ::mallopt(M_PERTURB, kHeapFillByte);
  return {};
}

}  // namespace

int RunImagerProcess() {
  // What the broker may ask of the imager: one image.
  return security::RunService<ImagerService>("banger-imager", security::ProcessKind::kImager, InitialiseLibext2fs,
                                             {{ipc::MessageType::kImageBegin, &ImagerService::Build}});
}

}  // namespace banger::imager
