// A warm pull's file data: the data region of an image an earlier pull published (the
// unpacked cache's link, docs/architecture.md "How a content byte travels") copied into
// the new image by the broker itself, before the imager starts. The imager then finds
// the data in place as after an unpacker, and never holds a descriptor of the older
// image, which belongs to whoever pulled it.
#pragma once

#include <cstdint>

#include "base/result.h"

namespace banger::broker {

// Copies [start, start + length) of `from` to the same offsets of `to`: only the ranges
// that hold data (SEEK_DATA), in 4 MiB pieces through `to_direct` (the same file opened
// O_DIRECT) where it takes them, else through `to`. A piece the page cache holds whole
// (mincore) is read from it; any other through `from_direct` (`from` opened O_DIRECT, or
// -1), so a copy of an image the unpacker wrote past the page cache does not fill it
// (finding pages costs more than the disk on a VM). `start` is page-aligned.
Result<void> CopyDataRegion(int from, int from_direct, int to, int to_direct, uint64_t start, uint64_t length);

}  // namespace banger::broker
