// The image a command-line argument names, as docker finds one: its name, its ID or an
// unambiguous prefix of the ID, or the reference it was pulled from.
#pragma once

#include <string>

#include "base/result.h"
#include "broker/store/image_store.h"

namespace banger::broker {

// In that order: an exact name, an exact ID, a reference (as typed, or in full:
// "debian:bookworm" is docker.io/library/debian:bookworm; "repo@sha256:..." matches the
// manifest digest), then an ID prefix. kNotFound names `what`; two images that match one
// prefix or one reference is kInvalidArgument naming both.
Result<StoredImage> FindImage(const ImageStore& store, const std::string& what);

}  // namespace banger::broker
