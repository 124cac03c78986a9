// The imager's directory layout (imager/directory_blocks.h) on inputs a compromised
// unpacker or a hostile layer could choose: a parent that is not a directory, more names
// than the imager keeps, and a name whose hash is ext4's end-of-directory mark.
#include "imager/directory_blocks.h"

#include <ext2fs/ext2fs.h>
#include <fcntl.h>
#include <unistd.h>

#include <string>

#include <gtest/gtest.h>

#include "imager/ext4_writer.h"
#include "tests/support/test_support.h"

namespace banger::imager {
namespace {

TEST(DirectoryBlocks, ANameGoesOnlyIntoADirectoryAndNamesAreBounded) {
  DirectoryBlocks directories;
  directories.Created(2, 2);
  EXPECT_TRUE(directories.Add(2, "a", 12, EXT2_FT_REG_FILE));
  auto refused = directories.Add(12, "under-a-file", 13, EXT2_FT_REG_FILE);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kMalformed);
  const std::string long_name(255, 'n');
  Result<void> added;
  uint64_t count = 0;
  while ((added = directories.Add(2, long_name, 14, EXT2_FT_REG_FILE)) && count < (kMaxNameBytes / 255) + 10) ++count;
  ASSERT_FALSE(added) << "no bound after " << count << " names";
  EXPECT_EQ(added.error().code, ErrorCode::kOversized);
  EXPECT_NE(added.error().message.find("48 MiB"), std::string::npos) << added.error().message;
}

// fs/ext4/hash.c files a name whose major hash is 0xfffffffe (the end-of-directory mark)
// under 0xfffffffc; an index entry of 0xfffffffe would hide the name from the kernel.
TEST(DirectoryBlocks, ANameHashingToTheEndMarkIsFiledAsTheKernelFilesIt) {
  uint32_t seed[4];
  unsigned char* bytes = reinterpret_cast<unsigned char*>(seed);
  for (int i = 0; i < 16; ++i) bytes[i] = static_cast<unsigned char>(i * 7 + 1);
  ext2_dirhash_t raw = 0, minor = 0;
  ASSERT_EQ(ext2fs_dirhash2(EXT2_HASH_HALF_MD4, "LBbMYdaa", 8, nullptr, 0, seed, &raw, &minor), 0);
  ASSERT_EQ(raw, 0xfffffffeu) << "the name chosen for this seed hashes to the end mark";
  auto hash = NameHash(EXT2_HASH_HALF_MD4, "LBbMYdaa", seed);
  ASSERT_TRUE(hash) << hash.error().message;
  EXPECT_EQ(hash->first, 0xfffffffcu);
  EXPECT_EQ(hash->second, minor);
}

// A record under a regular file (only a compromised unpacker could send one) is refused,
// never written as that file's directory block.
TEST(DirectoryBlocks, TheWriterRefusesARecordWhoseParentIsAFile) {
  testing::ScratchDir dir{"banger-dirblocks"};
  const std::string path = dir.path() + "/fs.ext4";
  UniqueFd image(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  ASSERT_TRUE(image);
  ASSERT_EQ(::ftruncate(image.get(), 64 << 20), 0);
  const int data_fd = image.get();
  UniqueFd for_libext2fs(::dup(image.get()));
  FsParameters params;
  params.size_bytes = 64 << 20;
  auto writer = Ext4Writer::Create(std::move(for_libext2fs), data_fd, params);
  ASSERT_TRUE(writer) << writer.error().message;
  ipc::TreeEntry root;
  root.kind = ipc::EntryKind::kDirectory;
  root.inode = ipc::kRootInode;
  root.mode = 0755;
  ASSERT_TRUE((*writer)->Add(root));
  ipc::TreeEntry file;
  file.inode = 2;
  file.parent = ipc::kRootInode;
  file.name = "file";
  file.mode = 0644;
  ASSERT_TRUE((*writer)->Add(file));
  ipc::TreeEntry child;
  child.kind = ipc::EntryKind::kFifo;
  child.inode = 3;
  child.parent = 2;
  child.name = "child";
  auto refused = (*writer)->Add(child);
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kMalformed);
  EXPECT_NE(refused.error().message.find("its parent is not a directory"), std::string::npos) << refused.error().message;
}

}  // namespace
}  // namespace banger::imager
