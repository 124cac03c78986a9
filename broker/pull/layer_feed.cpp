#include "broker/pull/layer_feed.h"

#include <algorithm>

#include "ipc/messages.h"
#include "ipc/unpack_protocol.h"

namespace banger::broker {
namespace {

// The most any file the unpacker writes may hold: the spool's data bound and the chunk it
// may overshoot by, and room for a tree stream of millions of entries when that bound is
// small. Set before it reads a byte of a layer (security/spawn.h LimitFileSize).
uint64_t UnpackerFileBound(const ipc::UnpackLimits& limits) {
  constexpr uint64_t kOvershoot = 64ull << 20;
  constexpr uint64_t kTreeRoom = 4ull << 30;
  const uint64_t spool = std::min(limits.max_spool_bytes.value_or(ipc::kDefaultMaxSpoolBytes), uint64_t{1} << 50);
  return std::max(spool + kOvershoot, kTreeRoom);
}

}  // namespace

LayerFeed::LayerFeed(const BlobCache& cache, UnpackerSource unpacker, ipc::UnpackRequest request, UniqueFd spool,
                     UniqueFd tree_write)
    : cache_(cache), unpacker_(std::move(unpacker)), request_(std::move(request)), spool_(std::move(spool)),
      tree_write_(std::move(tree_write)) {}

void LayerFeed::OnPlan(const FetchedImage& image) {
  if (config_) return;
  config_ = image.config;
  layers_ = image.layers;
  layer_sent_.assign(layers_.size(), false);
  Pump();
}

void LayerFeed::OnDownloadStarted(const std::string& digest, int file_fd) {
  // A read-only view of the file the fetcher fills; it stays valid once linked in.
  auto view = ReopenReadOnly(file_fd);
  if (!view) {
    if (!error_) error_ = view.error().Wrap("the download of " + digest);
    return;
  }
  downloading_[digest] = std::move(*view);
  Pump();
}

void LayerFeed::OnEvent(const FetchEvent& event) {
  if (event.kind == FetchEvent::kCached || event.kind == FetchEvent::kDone) {
    complete_.insert(event.digest);
    Pump();
  }
}

Result<void> LayerFeed::Finish(const FetchedImage& image) {
  OnPlan(image);  // when the fetch did not stream (offline, or a mirror served it)
  for (const auto& blob : image.Digests()) complete_.insert(blob);
  if (error_) return *error_;
  BANGER_TRY(SendReady());
  if (!begin_sent_) return Error{ErrorCode::kNotFound, "config " + config_->digest + " left the cache"};
  for (size_t i = 0; i < layers_.size(); ++i) {
    if (!layer_sent_[i]) return Error{ErrorCode::kNotFound, "layer " + layers_[i].digest + " left the cache"};
  }
  return {};
}

void LayerFeed::Pump() {
  if (error_) return;
  if (auto sent = SendReady(); !sent) error_ = sent.error();
}


Result<void> LayerFeed::SendBegin(security::SandboxedChild& unpacker) {
  std::optional<UniqueFd> config = cache_.OpenBlob(config_->digest, config_->size);
  if (!config) return {};  // Finish names it if it stays missing
  ipc::UnpackRequest request = request_;
  request.layers.clear();
  for (const auto& l : layers_) request.layers.push_back({l.digest, l.media_type});
  BANGER_TRY(unpacker.LimitFileSize(UnpackerFileBound(request.limits)));
  ipc::Message message = ipc::Message::Make(ipc::MessageType::kUnpackBegin, ipc::Encode(request));
  message.fds.push_back(std::move(*config));
  message.fds.push_back(std::move(spool_));
  message.fds.push_back(std::move(tree_write_));
  BANGER_TRY(unpacker.Send(message));
  begin_sent_ = true;
  return {};
}

Result<std::optional<UniqueFd>> LayerFeed::Readable(const FetchedBlob& layer, ipc::LayerHandOff& hand_off) {
  if (complete_.count(layer.digest)) return cache_.OpenBlob(layer.digest, layer.size);
  auto it = downloading_.find(layer.digest);
  if (it == downloading_.end()) return std::optional<UniqueFd>();
  BANGER_ASSIGN_OR_RETURN(UniqueFd view, DupCloexec(it->second.get()));
  hand_off.grows_to = layer.size;
  return std::optional<UniqueFd>(std::move(view));
}

Result<void> LayerFeed::SendReady() {
  if (!config_) return {};
  BANGER_ASSIGN_OR_RETURN(security::SandboxedChild * unpacker, unpacker_());
  if (!begin_sent_ && complete_.count(config_->digest)) BANGER_TRY(SendBegin(*unpacker));
  if (!begin_sent_) return {};
  for (size_t i = 0; i < layers_.size(); ++i) {
    if (layer_sent_[i]) continue;
    ipc::LayerHandOff hand_off{i, std::nullopt};
    BANGER_ASSIGN_OR_RETURN(std::optional<UniqueFd> fd, Readable(layers_[i], hand_off));
    if (!fd) continue;
    ipc::Message message = ipc::Message::Make(ipc::MessageType::kUnpackLayer, ipc::Encode(hand_off));
    message.fds.push_back(std::move(*fd));
    BANGER_TRY(unpacker->Send(message));
    layer_sent_[i] = true;
  }
  return {};
}

}  // namespace banger::broker
