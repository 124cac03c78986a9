// The data region (docs/architecture.md, "How a content byte travels"): the unpacker
// writes file data into rootfs.ext4 and the imager maps it in place. What a later layer
// replaced, and whatever a compromised unpacker wrote outside the region, is not left in
// the image; a tree that points a file outside the region or at another file's blocks
// is refused by name.
#include <fcntl.h>
#include <unistd.h>

#include <fstream>
#include <iterator>

#include <gtest/gtest.h>

#include "imager/ext4_writer.h"
#include "tests/imager/image_harness.h"
#include "tests/support/layer_entry.h"

namespace banger::imager {
namespace {

using banger::testing::BuildRootfs;
using banger::testing::ImageOptions;
using banger::testing::Layer;
using banger::testing::LayerEntry;
using nlohmann::json;

std::string Marked(const std::string& mark, size_t bytes) {
  std::string out;
  while (out.size() < bytes) out += mark + std::to_string(out.size()) + ";";
  out.resize(bytes);
  return out;
}

ipc::TreeEntry RootEntry() {
  ipc::TreeEntry root;
  root.kind = ipc::EntryKind::kDirectory;
  root.inode = ipc::kRootInode;
  root.mode = 0755;
  return root;
}

// A regular file under / whose data is one extent at `spool_offset`.
ipc::TreeEntry FileEntry(uint64_t inode, const std::string& name, uint64_t spool_offset, uint64_t length) {
  ipc::TreeEntry file;
  file.kind = ipc::EntryKind::kRegular;
  file.inode = inode;
  file.parent = ipc::kRootInode;
  file.name = name;
  file.mode = 0644;
  file.size = length;
  file.extents = {{0, length, spool_offset}};
  return file;
}

// A writer on a scratch file of `size` bytes with a data region of `region` bytes, / added.
Result<std::unique_ptr<Ext4Writer>> OpenWriter(int image, uint64_t size, uint64_t region) {
  if (::ftruncate(image, static_cast<off_t>(size)) != 0) return Error::FromErrno("ftruncate");
  FsParameters params;
  params.size_bytes = size;
  params.region_bytes = region;
  BANGER_ASSIGN_OR_RETURN(auto writer, Ext4Writer::Create(UniqueFd(::dup(image)), image, params));
  BANGER_TRY(writer->Add(RootEntry()));
  return writer;
}

std::string WholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

class DataRegion : public ::testing::Test {
 protected:
  std::vector<testing::BuiltLayer> Layers(std::vector<json> specs) {
    std::vector<testing::BuiltLayer> out;
    for (const auto& s : specs) out.push_back(testing::BuildLayer(s, dir_));
    return out;
  }
  testing::ScratchDir dir_{"banger-region"};
};

TEST_F(DataRegion, WhatLaterLayersReplacedAndWritesOutsideTheRegionAreNotInTheImage) {
  const std::string secret = Marked("SECRET-KEY-MATERIAL-", 300000);
  const std::string kept = Marked("KEPT-", 50000);
  auto layers = Layers({Layer({LayerEntry::File("etc/secret", secret), LayerEntry::File("etc/kept", kept)}),
                        Layer({LayerEntry::File("etc/.wh.secret", "")})});
  ImageOptions options;
  options.size_bytes = 96 << 20;  // small enough to read whole
  const std::string junk = Marked("JUNK-FROM-THE-UNPACKER-", 8192);
  options.scribbles = {{4096, junk}, {ipc::kDataRegionStart - 8192, junk}, {ipc::kDataRegionStart + (40 << 20), junk}};
  const std::string path = dir_.path() + "/rootfs.ext4";
  auto built = BuildRootfs(layers, path, options);
  ASSERT_TRUE(built) << built.error().message;
  EXPECT_EQ(testing::Fsck(path).exit_status, 0) << testing::Fsck(path).output;
  const json tree = testing::DumpTree(path);
  EXPECT_FALSE(tree.contains("/etc/secret"));
  ASSERT_TRUE(tree.contains("/etc/kept"));
  const std::string raw = WholeFile(path);
  EXPECT_EQ(raw.find("SECRET-KEY-MATERIAL-"), std::string::npos) << "a replaced file's bytes stay in free space";
  EXPECT_EQ(raw.find("JUNK-FROM-THE-UNPACKER-"), std::string::npos) << "bytes written outside the region stay";
  EXPECT_NE(raw.find("KEPT-"), std::string::npos);
}

// Against the writer itself, as only a compromised unpacker's tree could ask.
class RegionWriter : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = dir_.path() + "/fs.ext4";
    image_ = UniqueFd(::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    ASSERT_TRUE(image_);
    auto writer = OpenWriter(image_.get(), 64 << 20, 1 << 20);
    ASSERT_TRUE(writer) << writer.error().message;
    writer_ = std::move(*writer);
  }
  Result<void> AddFile(uint64_t inode, const std::string& name, uint64_t spool_offset, uint64_t length) {
    return writer_->Add(FileEntry(inode, name, spool_offset, length));
  }
  testing::ScratchDir dir_{"banger-region-writer"};
  std::string path_;
  UniqueFd image_;
  std::unique_ptr<Ext4Writer> writer_;
};

TEST_F(RegionWriter, AFileOnAnotherFilesBlocksOrOutsideTheRegionIsRefusedByName) {
  ASSERT_TRUE(AddFile(10, "first", ipc::kDataRegionStart, 8192));
  auto shared = AddFile(11, "second", ipc::kDataRegionStart + 4096, 100);
  ASSERT_FALSE(shared);
  EXPECT_EQ(shared.error().code, ErrorCode::kMalformed);
  EXPECT_NE(shared.error().message.find("'/second'"), std::string::npos) << shared.error().message;
  EXPECT_NE(shared.error().message.find("another file holds"), std::string::npos) << shared.error().message;
  auto outside = AddFile(12, "third", 4096, 100);
  ASSERT_FALSE(outside);
  EXPECT_NE(outside.error().message.find("outside the data region"), std::string::npos) << outside.error().message;
  auto past = AddFile(13, "fourth", ipc::kDataRegionStart + (1 << 20) - 4096, 8192);
  ASSERT_FALSE(past);
  EXPECT_NE(past.error().message.find("outside the data region"), std::string::npos) << past.error().message;
}

// A region reaching the last whole group: the backup superblock goes only where even the
// group ext2fs_initialize keeps last (it drops a short one) starts past the region, and a
// region the filesystem's own blocks lie in is refused. 1025 MiB with 885 MiB of data
// once put the backup's blocks inside a file.
TEST(RegionLayout, NoBackupSuperblockLandsInTheRegion) {
  testing::ScratchDir dir{"banger-region-layout"};
  const std::string path = dir.path() + "/fs.ext4";
  UniqueFd image(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  ASSERT_TRUE(image);
  const uint64_t region = 885ull << 20;
  auto writer = OpenWriter(image.get(), 1025ull << 20, region);
  ASSERT_TRUE(writer) << writer.error().message;
  auto added = (*writer)->Add(FileEntry(10, "big", ipc::kDataRegionStart, region));
  ASSERT_TRUE(added) << added.error().message;
  auto finished = (*writer)->Finish();
  ASSERT_TRUE(finished) << finished.error().message;
  const testing::CommandResult fsck = testing::RunCommand("e2fsck -fn " + path + " 2>&1");
  EXPECT_EQ(fsck.exit_status, 0) << fsck.output;
}

// Past 16 groups libext2fs looks for a flex group's tables only inside that flex group
// (512 MiB) and, failing that, before it: a region past 512 MiB left it no room (the
// scale image, 4 GiB of data in a 6 GiB filesystem, failed "allocating group tables").
TEST(RegionLayout, GroupTablesFitAroundARegionPastTheFirstFlexGroup) {
  for (const auto& [size, region] : {std::pair<uint64_t, uint64_t>{3ull << 30, 600ull << 20},
                                     std::pair<uint64_t, uint64_t>{6ull << 30, 4300ull << 20}}) {
    testing::ScratchDir dir{"banger-region-tables"};
    const std::string path = dir.path() + "/fs.ext4";
    UniqueFd image(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    ASSERT_TRUE(image);
    auto writer = OpenWriter(image.get(), size, region);
    ASSERT_TRUE(writer) << size << " bytes with a region of " << region << ": " << writer.error().message;
    ASSERT_TRUE((*writer)->Add(FileEntry(10, "big", ipc::kDataRegionStart, region)));
    auto finished = (*writer)->Finish();
    ASSERT_TRUE(finished) << finished.error().message;
    const testing::CommandResult fsck = testing::RunCommand("e2fsck -fn " + path + " 2>&1");
    EXPECT_EQ(fsck.exit_status, 0) << fsck.output;
    const testing::CommandResult stat = testing::RunCommand("debugfs -R 'stat /big' " + path + " 2>&1");
    EXPECT_NE(stat.output.find("Size: " + std::to_string(region)), std::string::npos) << stat.output;
  }
}

}  // namespace
}  // namespace banger::imager
