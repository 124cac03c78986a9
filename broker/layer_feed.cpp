#include "broker/layer_feed.h"

#include <fcntl.h>

#include "ipc/messages.h"

namespace banger::broker {

LayerFeed::LayerFeed(const BlobCache& cache, UnpackerSource unpacker, nlohmann::json begin, UniqueFd spool,
                     UniqueFd tree_write)
    : cache_(cache), unpacker_(std::move(unpacker)), begin_(std::move(begin)), spool_(std::move(spool)),
      tree_write_(std::move(tree_write)) {}

void LayerFeed::OnPlan(const FetchedImage& image) {
  if (config_) return;
  config_ = Blob{image.config.digest, image.config.size, image.config.media_type};
  for (const auto& l : image.layers) layers_.push_back({l.digest, l.size, l.media_type});
  layer_sent_.assign(layers_.size(), false);
  Pump();
}

void LayerFeed::OnDownloadStarted(const std::string& digest, int file_fd) {
  // A read-only view of the file the fetcher fills; it stays valid once linked in.
  UniqueFd view(::open(("/proc/self/fd/" + std::to_string(file_fd)).c_str(), O_RDONLY | O_CLOEXEC));
  if (!view) {
    if (!error_) error_ = Error::FromErrno("reopening the download of " + digest);
    return;
  }
  downloading_[digest] = std::move(view);
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

Result<void> LayerFeed::SendReady() {
  if (!config_) return {};
  BANGER_ASSIGN_OR_RETURN(security::SandboxedChild * unpacker, unpacker_());
  if (!begin_sent_) {
    if (!complete_.count(config_->digest)) return {};
    std::optional<UniqueFd> config = cache_.OpenBlob(config_->digest, config_->size);
    if (!config) return {};  // Finish names it if it stays missing
    nlohmann::json begin = begin_;
    begin["layers"] = nlohmann::json::array();
    for (const auto& l : layers_) begin["layers"].push_back({{"digest", l.digest}, {"media_type", l.media_type}});
    ipc::Message message = ipc::Message::WithJson(ipc::MessageType::kUnpackBegin, begin);
    message.fds.push_back(std::move(*config));
    message.fds.push_back(std::move(spool_));
    message.fds.push_back(std::move(tree_write_));
    BANGER_TRY(unpacker->Send(message));
    begin_sent_ = true;
  }
  for (size_t i = 0; i < layers_.size(); ++i) {
    if (layer_sent_[i]) continue;
    const Blob& layer = layers_[i];
    nlohmann::json body = {{"index", i}};
    UniqueFd fd;
    if (complete_.count(layer.digest)) {
      std::optional<UniqueFd> blob = cache_.OpenBlob(layer.digest, layer.size);
      if (!blob) continue;
      fd = std::move(*blob);
    } else if (auto it = downloading_.find(layer.digest); it != downloading_.end()) {
      fd = UniqueFd(::fcntl(it->second.get(), F_DUPFD_CLOEXEC, 0));
      if (!fd) return Error::FromErrno("dup");
      body["grows_to"] = layer.size;
    } else {
      continue;
    }
    ipc::Message message = ipc::Message::WithJson(ipc::MessageType::kUnpackLayer, body);
    message.fds.push_back(std::move(fd));
    BANGER_TRY(unpacker->Send(message));
    layer_sent_[i] = true;
  }
  return {};
}

}  // namespace banger::broker
