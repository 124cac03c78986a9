// The tree stream is the imager's only view of the unpacker's work, and the unpacker is
// the process most likely to be compromised: the reader must refuse every malformed record.
#include "ipc/tree_stream.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "base/fd.h"

namespace banger::ipc {
namespace {

TreeEntry Root() {
  TreeEntry e;
  e.kind = EntryKind::kDirectory;
  e.inode = kRootInode;
  e.mode = 0755;
  e.children = 1;
  return e;
}

TreeEntry File(uint64_t inode, const std::string& name) {
  TreeEntry e;
  e.kind = EntryKind::kRegular;
  e.inode = inode;
  e.parent = kRootInode;
  e.name = name;
  e.mode = 04755;
  e.uid = 70000;
  e.size = 10000;
  e.mtime = {1700000000, 123456789};
  e.xattrs = {{"security.capability", std::string("\x01\x00\x00\x02", 4)}};
  e.extents = {{0, 4096, 0}, {8192, 1808, 4096}};
  return e;
}

TEST(TreeStream, RoundTripsThroughAPipe) {
  UniqueFd file(::memfd_create("tree", MFD_CLOEXEC));
  TreeStreamWriter writer(file.get());
  TreeSummary summary{2, 2, 1, 5904, 10000, 4, 1};
  ASSERT_TRUE(writer.WriteSummary(summary));
  ASSERT_TRUE(writer.Write(Root()));
  ASSERT_TRUE(writer.Write(File(2, std::string("we\nird\xff", 7))));
  ASSERT_TRUE(writer.Finish());
  ::lseek(file.get(), 0, SEEK_SET);
  TreeStreamReader reader(file.get());
  auto read_summary = reader.ReadSummary();
  ASSERT_TRUE(read_summary) << read_summary.error().message;
  EXPECT_EQ(read_summary->data_bytes, 5904u);
  auto root = reader.Next();
  ASSERT_TRUE(root && *root);
  EXPECT_EQ((*root)->children, 1u);
  auto file_entry = reader.Next();
  ASSERT_TRUE(file_entry && *file_entry) << file_entry.error().message;
  const TreeEntry& f = **file_entry;
  EXPECT_EQ(f.name, std::string("we\nird\xff", 7));
  EXPECT_EQ(f.mode, 04755u);
  EXPECT_EQ(f.uid, 70000u);
  EXPECT_EQ(f.mtime.nsec, 123456789u);
  EXPECT_EQ(f.xattrs, File(2, "x").xattrs);
  EXPECT_EQ(f.extents, File(2, "x").extents);
  auto end = reader.Next();
  ASSERT_TRUE(end);
  EXPECT_FALSE(*end);
}

Result<TreeEntry> RoundTrip(const TreeEntry& e) { return DecodeTreeEntry(EncodeTreeEntry(e), TreeStreamLimits{}); }

TEST(TreeStream, RefusesMalformedRecords) {
  auto expect_refused = [](const TreeEntry& e, const char* why) {
    auto decoded = RoundTrip(e);
    EXPECT_FALSE(decoded) << why;
  };
  TreeEntry slash = File(2, "a/b");
  expect_refused(slash, "a name with a slash");
  expect_refused(File(2, ".."), "a name of ..");
  expect_refused(File(2, std::string("nul\0", 4)), "a name with NUL");
  expect_refused(File(2, std::string(256, 'n')), "a name over 255 bytes");
  TreeEntry unordered = File(2, "f");
  unordered.extents = {{8192, 100, 0}, {0, 100, 100}};
  expect_refused(unordered, "extents out of order");
  TreeEntry outside = File(2, "f");
  outside.extents = {{9990, 100, 0}};
  expect_refused(outside, "an extent past the file's end");
  TreeEntry wrap = File(2, "f");
  wrap.extents = {{0, 100, ~0ull - 10}};
  expect_refused(wrap, "a spool offset that wraps");
  TreeEntry mode = File(2, "f");
  mode.mode = 0170000;
  expect_refused(mode, "type bits in the mode");
  TreeEntry symlink = File(2, "s");
  symlink.kind = EntryKind::kSymlink;
  symlink.extents.clear();
  expect_refused(symlink, "a symlink without a target");
  TreeEntry second_root = Root();
  second_root.name = "x";
  expect_refused(second_root, "a root with a name");
  TreeEntry orphan = File(3, "");
  expect_refused(orphan, "a nameless non-root");
  TreeEntry big_xattr = File(2, "f");
  big_xattr.xattrs = {{"user.big", std::string(70000, 'x')}};
  expect_refused(big_xattr, "xattrs over 64 KiB");
  std::string record = EncodeTreeEntry(File(2, "f"));
  EXPECT_FALSE(DecodeTreeEntry(record.substr(0, record.size() - 1), TreeStreamLimits{})) << "truncated";
  EXPECT_FALSE(DecodeTreeEntry(record + "x", TreeStreamLimits{})) << "trailing bytes";
}

// A compromised unpacker must not get a value to libext2fs that ext4 would store as
// another one (ipc/ext4_limits.h): the reader refuses it, at the edge and one past it.
TEST(TreeStream, RefusesValuesExt4CannotHold) {
  auto decodes = [](auto change) {
    TreeEntry e = File(2, "f");
    change(e);
    return RoundTrip(e).ok();
  };
  EXPECT_TRUE(decodes([](TreeEntry& e) { e.uid = e.gid = 4294967294u; }));
  EXPECT_FALSE(decodes([](TreeEntry& e) { e.uid = 4294967295u; }));
  EXPECT_FALSE(decodes([](TreeEntry& e) { e.gid = 4294967295u; }));
  EXPECT_TRUE(decodes([](TreeEntry& e) { e.mtime = {-2147483648LL, 0}; e.ctime = {15032385535LL, 0}; }));
  EXPECT_FALSE(decodes([](TreeEntry& e) { e.mtime = {-2147483649LL, 0}; }));
  EXPECT_FALSE(decodes([](TreeEntry& e) { e.atime = {15032385536LL, 0}; }));
  EXPECT_FALSE(decodes([](TreeEntry& e) { e.ctime = {15032385535LL, 1}; })) << "the kernel keeps no ns at the edge";
  EXPECT_TRUE(decodes([](TreeEntry& e) { e.size = 0xffffffffull * 4096; e.extents.clear(); }));
  EXPECT_FALSE(decodes([](TreeEntry& e) { e.size = 0xffffffffull * 4096 + 1; e.extents.clear(); }));
  auto device = [](uint32_t major, uint32_t minor) {
    return [=](TreeEntry& e) {
      e.kind = EntryKind::kCharDevice;
      e.size = 0;
      e.extents.clear();
      e.rdev_major = major;
      e.rdev_minor = minor;
    };
  };
  EXPECT_TRUE(decodes(device(4095, 1048575)));
  EXPECT_FALSE(decodes(device(4096, 0)));
  EXPECT_FALSE(decodes(device(0, 1048576)));
}

TEST(TreeStream, AFullHeaderWithTheWrongMagicIsNamed) {
  UniqueFd file(::memfd_create("tree", MFD_CLOEXEC));
  TreeStreamWriter writer(file.get());
  ASSERT_TRUE(writer.WriteSummary(TreeSummary{1, 1, 1, 0, 0, 0, 0}));
  ASSERT_TRUE(writer.Write(Root()));
  ASSERT_TRUE(writer.Finish());
  ASSERT_EQ(::pwrite(file.get(), "NOTATREE", 8, 0), 8);  // the rest of the stream stays whole
  ::lseek(file.get(), 0, SEEK_SET);
  TreeStreamReader reader(file.get());
  auto summary = reader.ReadSummary();
  ASSERT_FALSE(summary);
  EXPECT_EQ(summary.error().code, ErrorCode::kMalformed);
  EXPECT_EQ(summary.error().message, "the tree stream does not start with its magic");
}

TEST(TreeStream, AStreamCutInsideARecordIsNamed) {
  UniqueFd file(::memfd_create("tree", MFD_CLOEXEC));
  TreeStreamWriter writer(file.get());
  ASSERT_TRUE(writer.WriteSummary(TreeSummary{2, 2, 1, 5904, 10000, 4, 1}));
  ASSERT_TRUE(writer.Write(Root()));
  ASSERT_TRUE(writer.Write(File(2, "f")));
  ASSERT_TRUE(writer.Finish());
  struct stat st {};
  ASSERT_EQ(::fstat(file.get(), &st), 0);
  // The writer died in the middle of the second record: no end marker, half a record.
  ASSERT_EQ(::ftruncate(file.get(), st.st_size - 4 - 20), 0);
  ::lseek(file.get(), 0, SEEK_SET);
  TreeStreamReader reader(file.get());
  ASSERT_TRUE(reader.ReadSummary());
  auto root = reader.Next();
  ASSERT_TRUE(root && *root) << "the first record is whole";
  auto cut = reader.Next();
  ASSERT_FALSE(cut);
  EXPECT_EQ(cut.error().code, ErrorCode::kTruncated);
  EXPECT_EQ(cut.error().message, "the tree stream ended early (the unpacker stopped?)");
}

}  // namespace
}  // namespace banger::ipc
