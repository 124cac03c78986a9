// A libext2fs I/O manager over an open fd that keeps the metadata blocks libext2fs reads
// and writes in memory (up to a bound), and writes them out sorted and merged into large
// writes when the bound is reached and at the end. unixfd_io_manager holds eight blocks
// and writes each evicted one alone: on many small files that was one 4 KiB pwrite after
// another on the image, contending for its inode lock with the data copier's writes
// (docs/imager.md). Only single-block reads and writes at the filesystem's block size
// are cached; anything else first writes out what is cached, then goes to the file.
#pragma once

#include <cstdint>
#include <string>

#include <ext2fs/ext2fs.h>

namespace banger::imager {

// The manager; its open takes the fd's number as the name, as unixfd_io_manager does,
// and the fd with it (closed at close).
io_manager BlockCacheIoManager();

// The image file holds only holes outside [data_from, data_to) as of now (the imager
// cut and punched it before the filesystem was made): from here on, a block read there
// that this channel has not written is zeros, and no read is made. On many files most
// reads are of inode table blocks libext2fs touches for the first time.
void AssumeZerosOutside(io_channel channel, uint64_t data_from, uint64_t data_to);

// Bytes [offset, offset + length) of the image are about to be written by someone else
// (file data): cached blocks there are dropped, so that a block libext2fs once used and
// freed can never be written over the data later.
void DropCachedRange(io_channel channel, uint64_t offset, uint64_t length);

// The bound, in blocks of the filesystem's size (16 MiB of 4 KiB blocks).
inline constexpr size_t kCachedBlocks = 4096;

}  // namespace banger::imager
