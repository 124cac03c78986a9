#include "ipc/unpack_protocol.h"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "base/json.h"
#include "ipc/fields.h"

namespace banger::ipc {
namespace {

using nlohmann::json;

constexpr size_t kMaxMediaType = 255;
constexpr const char* kGuestInits[] = {"systemd", "openrc", "systemd+openrc", "none"};

// Each bound with its name, in Names() order.
template <class Limits, class Visit>
void ForEachLimit(Limits& l, Visit&& visit) {
  visit("max_layer_bytes", l.max_layer_bytes);
  visit("max_total_bytes", l.max_total_bytes);
  visit("max_spool_bytes", l.max_spool_bytes);
  visit("max_unpack_seconds", l.max_unpack_seconds);
  visit("max_entries", l.max_entries);
  visit("max_depth", l.max_depth);
  visit("max_path_bytes", l.max_path_bytes);
  visit("zstd_window_log_max", l.zstd_window_log_max);
  visit("max_header_bytes", l.max_header_bytes);
}

json LimitsToJson(const UnpackLimits& limits) {
  json out = json::object();
  ForEachLimit(limits, [&](const char* name, const std::optional<uint64_t>& value) {
    if (value) out[name] = *value;
  });
  return out;
}

void ReadLimits(FieldReader& outer, UnpackLimits& limits) {
  const json* object = outer.Object("limits");
  if (object == nullptr) return;
  FieldReader fields(*object, "limits");
  ForEachLimit(limits, [&](const char* name, std::optional<uint64_t>& value) { fields.OptionalUint(name, value); });
  outer.Absorb(fields);
}

// A list of objects, each read by `read` with its own reader.
template <class T, class Read>
void ReadList(FieldReader& outer, std::string_view key, size_t max_items, const std::string& what,
              std::vector<T>& out, Read&& read) {
  const json* list = outer.Array(key, max_items);
  if (list == nullptr) return;
  for (const json& item : *list) {
    FieldReader fields(item, what);
    T value;
    read(fields, value);
    outer.Absorb(fields);
    if (!outer.ok()) return;
    out.push_back(std::move(value));
  }
}

void ReadGuest(FieldReader& outer, std::optional<GuestReport>& out) {
  const json* object = outer.OptionalObject("guest");
  if (object == nullptr) return;
  GuestReport guest;
  FieldReader fields(*object, "guest");
  fields.String("init", guest.init, 32)
      .Strings("injected", guest.injected, kMaxGuestPaths, 4096)
      .Strings("replaced", guest.replaced, kMaxGuestPaths, 4096);
  if (fields.ok() && std::find(std::begin(kGuestInits), std::end(kGuestInits), guest.init) == std::end(kGuestInits)) {
    fields.Fail("'init' is not systemd, openrc, systemd+openrc or none");
  }
  outer.Absorb(fields);
  if (outer.ok()) out = std::move(guest);
}

}  // namespace

const std::vector<std::string>& UnpackLimits::Names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> out;
    UnpackLimits limits;
    ForEachLimit(limits, [&](const char* name, std::optional<uint64_t>&) { out.push_back(name); });
    return out;
  }();
  return names;
}

std::optional<uint64_t>* UnpackLimits::Find(std::string_view name) {
  std::optional<uint64_t>* found = nullptr;
  ForEachLimit(*this, [&](const char* each, std::optional<uint64_t>& value) {
    if (name == each) found = &value;
  });
  return found;
}

std::string Encode(const UnpackRequest& r) {
  json layers = json::array();
  for (const UnpackLayerRef& l : r.layers) layers.push_back({{"digest", l.digest}, {"media_type", l.media_type}});
  return DumpJson({{"layers", layers}, {"limits", LimitsToJson(r.limits)}, {"inject_guest_assets", r.inject_guest_assets}});
}

Result<UnpackRequest> DecodeUnpackRequest(std::string_view body) {
  BANGER_ASSIGN_OR_RETURN(json j, ParseObject(body, "unpack-begin"));
  UnpackRequest r;
  FieldReader fields(j, "unpack-begin");
  ReadList(fields, "layers", kMaxUnpackLayers, "a layer", r.layers, [](FieldReader& f, UnpackLayerRef& l) {
    f.Digest("digest", l.digest).String("media_type", l.media_type, kMaxMediaType);
  });
  ReadLimits(fields, r.limits);
  fields.Bool("inject_guest_assets", r.inject_guest_assets);
  return fields.Done(std::move(r));
}

std::string Encode(const LayerHandOff& h) {
  json body = {{"index", h.index}};
  if (h.grows_to) body["grows_to"] = *h.grows_to;
  return DumpJson(body);
}

Result<LayerHandOff> DecodeLayerHandOff(std::string_view body) {
  BANGER_ASSIGN_OR_RETURN(json j, ParseObject(body, "unpack-layer"));
  LayerHandOff h;
  FieldReader fields(j, "unpack-layer");
  fields.Uint("index", h.index, kMaxUnpackLayers - 1).OptionalUint("grows_to", h.grows_to);
  return fields.Done(h);
}

std::string Encode(const UnpackProgress& p) { return DumpJson({{"layer", p.layer}, {"bytes", p.bytes}}); }

Result<UnpackProgress> DecodeUnpackProgress(std::string_view body) {
  BANGER_ASSIGN_OR_RETURN(json j, ParseObject(body, "unpack-progress"));
  UnpackProgress p;
  FieldReader fields(j, "unpack-progress");
  fields.Uint("layer", p.layer, kMaxUnpackLayers - 1).Uint("bytes", p.bytes);
  return fields.Done(p);
}

std::string Encode(const UnpackSummary& s) {
  json body = {{"entries", s.entries},
               {"inodes", s.inodes},
               {"directories", s.directories},
               {"data_bytes", s.data_bytes},
               {"apparent_bytes", s.apparent_bytes},
               {"metadata_bytes", s.metadata_bytes},
               {"uncompressed_bytes", s.uncompressed_bytes},
               {"spool_bytes", s.spool_bytes},
               {"warnings", s.warnings}};
  if (s.guest) body["guest"] = {{"init", s.guest->init}, {"injected", s.guest->injected}, {"replaced", s.guest->replaced}};
  return DumpJson(body);
}

Result<UnpackSummary> DecodeUnpackSummary(std::string_view body) {
  BANGER_ASSIGN_OR_RETURN(json j, ParseObject(body, "unpack-done"));
  UnpackSummary s;
  FieldReader fields(j, "unpack-done");
  fields.Uint("entries", s.entries)
      .Uint("inodes", s.inodes)
      .Uint("directories", s.directories)
      .Uint("data_bytes", s.data_bytes)
      .Uint("apparent_bytes", s.apparent_bytes)
      .Uint("metadata_bytes", s.metadata_bytes)
      .Uint("uncompressed_bytes", s.uncompressed_bytes)
      .Uint("spool_bytes", s.spool_bytes)
      .Strings("warnings", s.warnings, kMaxUnpackWarnings, kMaxWarningBytes);
  ReadGuest(fields, s.guest);
  return fields.Done(std::move(s));
}

std::string Encode(const ExtractRequest& r) {
  json body = json::object();
  if (r.max_rootfs_bytes) body["max_rootfs_bytes"] = *r.max_rootfs_bytes;
  return DumpJson(body);
}

Result<ExtractRequest> DecodeExtractRequest(std::string_view body) {
  BANGER_ASSIGN_OR_RETURN(json j, ParseObject(body, "extract-bundle"));
  ExtractRequest r;
  FieldReader fields(j, "extract-bundle");
  fields.OptionalUint("max_rootfs_bytes", r.max_rootfs_bytes);
  return fields.Done(r);
}

std::string Encode(const BundleExtracted& e) {
  const BundleManifest& m = e.manifest;
  json manifest = {{"name", m.name}, {"distro", m.distro}, {"arch", m.arch}, {"kernel_ref", m.kernel_ref}};
  return DumpJson({{"manifest", manifest}, {"rootfs_bytes", e.rootfs_bytes}});
}

Result<BundleExtracted> DecodeBundleExtracted(std::string_view body) {
  BANGER_ASSIGN_OR_RETURN(json j, ParseObject(body, "bundle-extracted"));
  BundleExtracted e;
  FieldReader fields(j, "bundle-extracted");
  fields.Uint("rootfs_bytes", e.rootfs_bytes);
  if (const json* manifest = fields.Object("manifest")) {
    FieldReader m(*manifest, "manifest");
    m.String("name", e.manifest.name, kMaxBundleField)
        .String("distro", e.manifest.distro, kMaxBundleField)
        .String("arch", e.manifest.arch, kMaxBundleField)
        .String("kernel_ref", e.manifest.kernel_ref, kMaxBundleField);
    fields.Absorb(m);
  }
  return fields.Done(std::move(e));
}

}  // namespace banger::ipc
