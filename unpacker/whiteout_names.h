// The names the layer format keeps for itself (OCI image-spec layer.md, and aufs's).
#pragma once

#include <string_view>

namespace banger::unpacker {

inline constexpr std::string_view kWhiteoutPrefix = ".wh.";
inline constexpr std::string_view kOpaqueMarker = ".wh..wh..opq";
inline constexpr std::string_view kMetaPrefix = ".wh..wh.";
inline constexpr std::string_view kAufsLinkDir = ".wh..wh.plnk";  // aufs's home for files with several names

inline bool IsWhiteoutName(std::string_view name) { return name.substr(0, kWhiteoutPrefix.size()) == kWhiteoutPrefix; }

}  // namespace banger::unpacker
