#include "tests/unpacker/unpack_harness.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include <gtest/gtest.h>

#include "security/proc_status.h"
#include "security/spawn.h"
#include "tests/support/registry_fixture.h"

namespace banger::testing {

BuiltLayer BuildLayer(const nlohmann::json& spec, const ScratchDir& dir) {
  static int counter = 0;
  const std::string base = dir.path() + "/layer" + std::to_string(counter++);
  std::ofstream(base + ".json") << spec.dump();
  CommandResult r = RunCommand("/usr/bin/python3 " + FixturesDir() + "/layers.py --spec " + base + ".json --out " + base);
  if (r.exit_status != 0) {
    ADD_FAILURE() << "layers.py failed: " << r.output;
    return {};
  }
  auto out = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  return {base, out["digest"], out["diff_id"]};
}

nlohmann::json Layer(const std::vector<LayerEntry>& entries, const std::string& compression) {
  nlohmann::json list = nlohmann::json::array();
  for (const LayerEntry& entry : entries) list.push_back(entry.Json());
  return {{"compression", compression}, {"entries", list}};
}

const ipc::TreeEntry* UnpackedTree::Find(const std::string& path) const {
  auto it = entries.find(path);
  return it == entries.end() ? nullptr : &it->second;
}

namespace {

UniqueFd AnonymousFile(const char* name) { return UniqueFd(::memfd_create(name, MFD_CLOEXEC)); }

Result<UnpackedTree> Decode(int tree_fd, int spool_fd) {
  UnpackedTree tree;
  ::lseek(tree_fd, 0, SEEK_SET);
  ipc::TreeStreamReader reader(tree_fd);
  BANGER_ASSIGN_OR_RETURN(tree.summary, reader.ReadSummary());
  std::map<uint64_t, std::string> paths;  // inode -> first path
  for (;;) {
    BANGER_ASSIGN_OR_RETURN(std::optional<ipc::TreeEntry> entry, reader.Next());
    if (!entry) break;
    std::string path;
    if (entry->inode == ipc::kRootInode && entry->kind == ipc::EntryKind::kDirectory) {
      path = "/";
    } else {
      auto parent = paths.find(entry->parent);
      if (parent == paths.end()) return Error{ErrorCode::kMalformed, "record before its parent"};
      path = (parent->second == "/" ? "" : parent->second) + "/" + entry->name;
    }
    if (entry->kind == ipc::EntryKind::kHardlink) {
      tree.hardlinks[path] = paths.at(entry->inode);
      continue;
    }
    paths[entry->inode] = path;
    if (entry->kind == ipc::EntryKind::kRegular && entry->size <= (1 << 20)) {
      std::string content(entry->size, '\0');
      for (const auto& x : entry->extents) {
        if (::pread(spool_fd, content.data() + x.file_offset, x.length, static_cast<off_t>(x.spool_offset)) !=
            static_cast<ssize_t>(x.length)) {
          return Error{ErrorCode::kTruncated, "spool shorter than an extent"};
        }
      }
      tree.contents[path] = content;
    }
    tree.entries[path] = std::move(*entry);
  }
  return tree;
}

}  // namespace

Result<security::SandboxedChild> StartUnpacker(const std::vector<BuiltLayer>& layers, const UnpackOptions& options,
                                               int spool_fd, int tree_fd) {
  std::vector<std::string> diff_ids;
  if (options.diff_ids) {
    diff_ids = *options.diff_ids;
  } else {
    for (const auto& l : layers) diff_ids.push_back(l.diff_id);
  }
  UniqueFd config = AnonymousFile("config");
  const std::string config_text =
      nlohmann::json{{"architecture", options.architecture}, {"os", "linux"},
                     {"rootfs", {{"type", "layers"}, {"diff_ids", diff_ids}}}}
          .dump();
  if (::write(config.get(), config_text.data(), config_text.size()) != static_cast<ssize_t>(config_text.size())) {
    return Error::FromErrno("writing config");
  }
  security::SpawnOptions spawn;
  spawn.executable = std::string(BANGER_BIN_DIR) + "/banger-unpacker";
  spawn.name = "banger-unpacker";
  spawn.spec = security::SpecForCurrentBroker(security::ProcessKind::kUnpacker);
  BANGER_ASSIGN_OR_RETURN(security::SandboxedChild child, security::SandboxedChild::Spawn(std::move(spawn)));
  nlohmann::json begin = {{"layers", nlohmann::json::array()},
                          {"limits", options.limits},
                          {"inject_guest_assets", options.guest_assets}};
  for (const auto& l : layers) begin["layers"].push_back({{"digest", l.digest}, {"media_type", options.media_type}});
  ipc::Message message = ipc::Message::WithJson(ipc::MessageType::kUnpackBegin, begin);
  message.fds.push_back(std::move(config));
  message.fds.push_back(UniqueFd(::fcntl(spool_fd, F_DUPFD_CLOEXEC, 0)));
  message.fds.push_back(UniqueFd(::fcntl(tree_fd, F_DUPFD_CLOEXEC, 0)));
  BANGER_TRY(child.Send(message));
  for (size_t i = 0; i < layers.size(); ++i) {
    nlohmann::json body = {{"index", i}};
    if (i < options.grows_to.size() && options.grows_to[i] != 0) body["grows_to"] = options.grows_to[i];
    ipc::Message layer = ipc::Message::WithJson(ipc::MessageType::kUnpackLayer, body);
    layer.fds.push_back(UniqueFd(::open(layers[i].path.c_str(), O_RDONLY | O_CLOEXEC)));
    BANGER_TRY(child.Send(layer));
  }
  return child;
}

Result<nlohmann::json> WaitForUnpack(security::SandboxedChild& unpacker) {
  for (;;) {
    BANGER_ASSIGN_OR_RETURN(ipc::Message reply, unpacker.ReceiveExpecting({ipc::MessageType::kUnpackProgress,
                                                                           ipc::MessageType::kUnpackDone},
                                                                          300000));
    if (reply.type == ipc::MessageType::kUnpackDone) return reply.Json();
  }
}

Result<UnpackedTree> Unpack(const std::vector<BuiltLayer>& layers, const UnpackOptions& options) {
  UniqueFd spool = AnonymousFile("spool");
  UniqueFd tree_out = AnonymousFile("tree");
  BANGER_ASSIGN_OR_RETURN(security::SandboxedChild child, StartUnpacker(layers, options, spool.get(), tree_out.get()));
  BANGER_ASSIGN_OR_RETURN(nlohmann::json done, WaitForUnpack(child));
  BANGER_ASSIGN_OR_RETURN(security::ProcStatus status, security::ReadProcStatus(child.pid()));
  BANGER_TRY(child.Shutdown(10000));
  BANGER_ASSIGN_OR_RETURN(UnpackedTree tree, Decode(tree_out.get(), spool.get()));
  tree.done = done;
  tree.peak_rss_kib = status.peak_rss_kib;
  return tree;
}

}  // namespace banger::testing
