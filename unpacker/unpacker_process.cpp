#include "unpacker/unpacker_process.h"

#include <openssl/crypto.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <clocale>
#include <cstdint>
#include <memory>

#include "assets/embedded.h"
#include "base/digest.h"
#include "base/platform.h"
#include "base/sha256.h"
#include "ipc/unpack_protocol.h"
#include "security/helper_session.h"
#include "unpacker/bundle_extract.h"
#include "unpacker/guest_assets.h"
#include "unpacker/replay.h"

namespace banger::unpacker {
namespace {

constexpr uint64_t kMaxConfigBytes = 4 << 20;
constexpr auto kProgressInterval = std::chrono::milliseconds(250);
constexpr const char* kEmptySha256 = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

ReplayLimits LimitsFrom(const ipc::UnpackLimits& l) {
  ReplayLimits r;
  r.stream.max_uncompressed_bytes = l.max_layer_bytes.value_or(r.stream.max_uncompressed_bytes);
  r.stream.zstd_window_log_max =
      static_cast<int>(std::min<uint64_t>(l.zstd_window_log_max.value_or(r.stream.zstd_window_log_max), 31));
  r.max_total_uncompressed_bytes = l.max_total_bytes.value_or(r.max_total_uncompressed_bytes);
  r.tree.max_entries = l.max_entries.value_or(r.tree.max_entries);
  r.tree.max_depth = l.max_depth.value_or(r.tree.max_depth);
  r.tree.max_path_bytes = l.max_path_bytes.value_or(r.tree.max_path_bytes);
  r.max_header_bytes = l.max_header_bytes.value_or(r.max_header_bytes);
  r.max_spool_bytes = l.max_spool_bytes.value_or(r.max_spool_bytes);
  r.max_seconds = l.max_unpack_seconds.value_or(r.max_seconds);
  return r;
}

// One image: unpack-begin starts the replay, which takes one unpack-layer per layer as
// it needs them.
class UnpackService {
 public:
  explicit UnpackService(ipc::Channel& channel) : channel_(channel) {}

  Result<void> Begin(ipc::Message& message) {
    if (begun_) return Error{ErrorCode::kUnexpected, "a second unpack-begin"};
    begun_ = true;
    BANGER_ASSIGN_OR_RETURN(ipc::UnpackRequest request, ipc::Decode<ipc::UnpackRequest>(message.body));
    for (const ipc::UnpackLayerRef& layer : request.layers) {
      LayerInput input;
      input.digest = layer.digest;
      input.media_type = layer.media_type;
      layers_.push_back(std::move(input));
    }
    limits_ = LimitsFrom(request.limits);
    inject_guest_assets_ = request.inject_guest_assets;
    config_ = std::move(message.fds[0]);
    spool_ = std::move(message.fds[1]);
    tree_out_ = std::move(message.fds[2]);
    layer_fds_.resize(layers_.size());
    // The replay starts now and takes each layer's hand-off when it needs that layer
    // (AwaitLayer): the broker hands a layer over when its download starts, and the
    // last may start long after the first has been read.
    return Run();
  }

  // A catalog bundle instead of layers: rootfs.ext4 into the given fd, the manifest back.
  Result<void> Extract(ipc::Message& message) {
    if (begun_) return Error{ErrorCode::kUnexpected, "extract-bundle after unpack-begin"};
    begun_ = true;
    BANGER_ASSIGN_OR_RETURN(ipc::ExtractRequest request, ipc::Decode<ipc::ExtractRequest>(message.body));
    BundleLimits limits;
    limits.max_rootfs_bytes = request.max_rootfs_bytes.value_or(limits.max_rootfs_bytes);
    BANGER_ASSIGN_OR_RETURN(ExtractedBundle bundle,
                            ExtractBundle(message.fds[0].get(), message.fds[1].get(), limits));
    return channel_.Send(ipc::Message::Make(ipc::MessageType::kBundleExtracted,
                                            ipc::Encode(ipc::BundleExtracted{bundle.manifest, bundle.rootfs_bytes})));
  }

  // Outside the replay every layer has been taken: one more is the broker's mistake.
  Result<void> AddLayer(ipc::Message& message) {
    if (!begun_) return Error{ErrorCode::kUnexpected, "unpack-layer before unpack-begin"};
    return TakeLayer(message);
  }

 private:
  Result<void> TakeLayer(ipc::Message& message) {
    BANGER_ASSIGN_OR_RETURN(ipc::LayerHandOff hand_off, ipc::Decode<ipc::LayerHandOff>(message.body));
    const size_t index = hand_off.index;
    if (index >= layers_.size() || layer_fds_[index]) {
      return Error{ErrorCode::kUnexpected, "unpack-layer with a bad or repeated index"};
    }
    layer_fds_[index] = std::move(message.fds[0]);
    layers_[index].fd = layer_fds_[index].get();
    layers_[index].grows_to = hand_off.grows_to.value_or(0);
    return {};
  }

  // The replay needs layer `index`: hand-offs are taken, in whatever order they come,
  // until it is here. Nothing else may come from the broker meanwhile.
  Result<LayerInput> AwaitLayer(size_t index) {
    while (!layer_fds_.at(index)) {
      BANGER_ASSIGN_OR_RETURN(ipc::Message message, channel_.ReceiveExpecting({ipc::MessageType::kUnpackLayer}));
      BANGER_TRY(TakeLayer(message));
    }
    return layers_[index];
  }

  Result<void> Run() {
    BANGER_ASSIGN_OR_RETURN(std::string config, ReadWholeFd(config_.get(), kMaxConfigBytes, "image config"));
    BANGER_ASSIGN_OR_RETURN(std::vector<std::string> diff_ids, DiffIdsFromConfig(config));
    Platform platform;
    if (inject_guest_assets_) {
      BANGER_ASSIGN_OR_RETURN(platform, PlatformFromConfig(config));
    }
    // Reports are advisory and the broker reads them only once its fetch is over, while
    // the replay runs during the fetch: at most four a second (and the first of each
    // layer), and one that finds the socket full is dropped rather than waited for.
    auto progress = [this, last_layer = SIZE_MAX, last_sent = std::chrono::steady_clock::time_point()](
                        size_t layer, uint64_t bytes, uint64_t entries) mutable {
      const auto now = std::chrono::steady_clock::now();
      if (layer == last_layer && now - last_sent < kProgressInterval) return;
      last_layer = layer;
      last_sent = now;
      (void)channel_.TrySend(ipc::Message::Make(ipc::MessageType::kUnpackProgress,
                                                ipc::Encode(ipc::UnpackProgress{layer, bytes, entries})));
    };
    std::optional<GuestInjection> guest;
    auto inject = [&guest, &platform](LayerTree& tree, SpoolWriter& spool, uint32_t next_layer) -> Result<void> {
      auto embedded = [](std::string_view name) -> std::optional<std::string_view> {
        const assets::EmbeddedFile* file = assets::FindEmbedded(name);
        if (file == nullptr) return std::nullopt;
        return file->bytes;
      };
      BANGER_ASSIGN_OR_RETURN(guest, InjectGuestAssets(tree, spool, embedded,
                                                       {.layer_index = next_layer, .image_platform = platform}));
      return {};
    };
    BANGER_ASSIGN_OR_RETURN(ReplayOutcome outcome,
                            ReplayLayers(layers_, diff_ids, spool_.get(), tree_out_.get(), limits_, progress,
                                         inject_guest_assets_ ? AfterLayers(inject) : AfterLayers(),
                                         [this](size_t index) { return AwaitLayer(index); }));
    tree_out_.reset();  // the imager sees the end of the stream
    return channel_.Send(ipc::Message::Make(ipc::MessageType::kUnpackDone, ipc::Encode(Summary(outcome, guest))));
  }

  static ipc::UnpackSummary Summary(ReplayOutcome& outcome, const std::optional<GuestInjection>& guest) {
    const auto& s = outcome.summary;
    ipc::UnpackSummary out{s.entries,       s.inodes, s.directories, s.data_bytes, s.apparent_bytes, s.metadata_bytes,
                           outcome.uncompressed_bytes, outcome.spool_bytes};
    if (guest) outcome.warnings.insert(outcome.warnings.end(), guest->warnings.begin(), guest->warnings.end());
    for (const std::string& warning : outcome.warnings) {
      if (out.warnings.size() == ipc::kMaxUnpackWarnings) break;
      out.warnings.push_back(warning.substr(0, ipc::kMaxWarningBytes));
    }
    if (guest) out.guest = ipc::GuestReport{GuestInitName(guest->init), guest->injected, guest->replaced};
    return out;
  }

  ipc::Channel& channel_;
  bool begun_ = false;
  std::vector<LayerInput> layers_;
  std::vector<UniqueFd> layer_fds_;
  ReplayLimits limits_;
  bool inject_guest_assets_ = false;
  UniqueFd config_, spool_, tree_out_;
};

// What the broker may ask of the unpacker.
const security::DispatchTable<UnpackService> kUnpackerServes = {
    {ipc::MessageType::kUnpackBegin, &UnpackService::Begin},
    {ipc::MessageType::kUnpackLayer, &UnpackService::AddLayer},
    {ipc::MessageType::kExtractBundle, &UnpackService::Extract}};

// What must be loaded while the filesystem is still visible.
Result<void> InitialiseLibraries() {
  // Names are raw bytes; a UTF-8 locale (built into glibc) keeps libarchive from
  // converting them, and needs no locale files once the filesystem is gone.
  std::setlocale(LC_CTYPE, "C.UTF-8");
  // OpenSSL loads its configuration and providers on first use: do it now.
  OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, nullptr);
  if (Sha256DigestOf("") != kEmptySha256) return Error{ErrorCode::kIo, "OpenSSL's sha256 is unavailable"};
  return {};
}

}  // namespace

int RunUnpackerProcess() {
  return security::RunService("banger-unpacker", security::ProcessKind::kUnpacker, InitialiseLibraries,
                              kUnpackerServes);
}

}  // namespace banger::unpacker
