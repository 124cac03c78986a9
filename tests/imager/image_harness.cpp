#include "tests/imager/image_harness.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <fstream>

#include "base/digest.h"
#include "broker/pull/fs_identity.h"
#include "security/spawn.h"
#include "tests/support/registry_fixture.h"

namespace banger::testing {

// As a cold pull runs them: the unpacker writes file data into the image's data region
// (through a direct-I/O descriptor, as the broker gives it) and the tree into a file;
// once it has exited, the imager builds the filesystem around the data in place.
Result<BuiltImage> BuildRootfs(const std::vector<BuiltLayer>& layers, const std::string& path,
                               const ImageOptions& options) {
  UniqueFd tree(::memfd_create("tree", MFD_CLOEXEC));
  if (!tree) return Error::FromErrno("memfd_create");
  UniqueFd image(::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!image) return Error::FromErrno("creating " + path);
  BANGER_ASSIGN_OR_RETURN(std::optional<UniqueFd> reopened, ReopenForDirectWrites(image.get()));
  if (!reopened) return Error{ErrorCode::kIo, "the tests' scratch has no direct I/O: build on a disk file system"};
  UniqueFd for_unpacker = std::move(*reopened);

  BuiltImage built;
  built.path = path;
  {
    BANGER_ASSIGN_OR_RETURN(security::SandboxedChild unpacker,
                            StartUnpacker(layers, options.unpack, for_unpacker.get(), tree.get()));
    for_unpacker.reset();
    BANGER_ASSIGN_OR_RETURN(built.unpack_done, WaitForUnpack(unpacker));
    BANGER_TRY(unpacker.Shutdown(10000));  // no descriptor that writes the image is left
  }
  if (::lseek(tree.get(), 0, SEEK_SET) != 0) return Error::FromErrno("rewinding the tree");
  for (const auto& [offset, bytes] : options.scribbles) BANGER_TRY(PwriteAll(image.get(), bytes, offset, "scribbling"));

  security::SpawnOptions spawn;
  spawn.executable = std::string(BANGER_BIN_DIR) + "/banger-imager";
  spawn.name = "banger-imager";
  spawn.spec = security::SpecForCurrentBroker(security::ProcessKind::kImager);
  BANGER_ASSIGN_OR_RETURN(security::SandboxedChild imager, security::SandboxedChild::Spawn(std::move(spawn)));
  const broker::FsIdentity id = broker::DeriveFsIdentity(options.manifest_digest);
  nlohmann::json digests = nlohmann::json::array();
  for (const BuiltLayer& layer : layers) digests.push_back(layer.digest);
  const uint64_t region_bytes = built.unpack_done.value("spool_bytes", uint64_t{0});
  ipc::Message begin = ipc::Message::WithJson(
      ipc::MessageType::kImageBegin,
      {{"size_bytes", options.size_bytes}, {"uuid", HexEncode(id.uuid.data(), id.uuid.size())},
       {"hash_seed", HexEncode(id.hash_seed.data(), id.hash_seed.size())}, {"timestamp", id.timestamp},
       {"layers", digests}, {"region_bytes", region_bytes}});
  begin.fds.push_back(std::move(image));
  begin.fds.push_back(std::move(tree));
  BANGER_TRY(imager.Send(begin));
  begin.fds.clear();

  BANGER_ASSIGN_OR_RETURN(ipc::Message done, imager.ReceiveExpecting({ipc::MessageType::kImageDone}, 600000));
  BANGER_ASSIGN_OR_RETURN(built.image_done, done.Json());
  BANGER_ASSIGN_OR_RETURN(security::ProcStatus status, security::ReadProcStatus(imager.pid()));
  built.imager_peak_rss_kib = status.peak_rss_kib;
  BANGER_TRY(imager.Shutdown(10000));
  return built;
}

CommandResult Fsck(const std::string& image) { return RunCommand("e2fsck -fn " + image); }

nlohmann::json DumpTree(const std::string& image, const std::vector<std::string>& excludes, bool times) {
  ScratchDir mount_point("banger-mnt");
  CommandResult mounted = RunCommand("mount -o ro,loop,noload " + image + " " + mount_point.path());
  if (mounted.exit_status != 0) {
    ADD_FAILURE() << "mount failed: " << mounted.output;
    return nullptr;
  }
  std::string command = "/usr/bin/python3 " + FixturesDir() + "/fstree.py " + mount_point.path();
  for (const auto& e : excludes) command += " --exclude " + e;
  if (times) command += " --times";
  CommandResult dump = RunCommand(command);
  RunCommand("umount " + mount_point.path());
  if (dump.exit_status != 0) {
    ADD_FAILURE() << "fstree failed: " << dump.output;
    return nullptr;
  }
  return nlohmann::json::parse(dump.output);
}

std::string RunInImage(const std::string& image, const std::string& command) {
  ScratchDir mount_point("banger-mnt");
  if (RunCommand("mount -o ro,loop,noload " + image + " " + mount_point.path()).exit_status != 0) return "";
  CommandResult run = RunCommand("M=" + mount_point.path() + "; " + command);
  RunCommand("umount " + mount_point.path());
  return run.exit_status == 0 ? run.output : "";
}

}  // namespace banger::testing
