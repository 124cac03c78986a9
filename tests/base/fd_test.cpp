#include "base/fd.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

namespace banger {
namespace {

UniqueFd Memfd() { return UniqueFd(::memfd_create("fd-test", MFD_CLOEXEC)); }

TEST(Fd, WriteAllAndPwriteAllWriteEveryByte) {
  UniqueFd fd = Memfd();
  ASSERT_TRUE(fd);
  const std::string big(3 << 20, 'x');
  ASSERT_TRUE(WriteAll(fd.get(), big, "writing"));
  ASSERT_TRUE(PwriteAll(fd.get(), "yy", 1, "writing"));
  auto back = ReadWholeFd(fd.get(), 4 << 20, "the memfd");
  ASSERT_TRUE(back);
  ASSERT_EQ(back->size(), big.size());
  EXPECT_EQ(back->substr(0, 4), "xyyx");
}

TEST(Fd, WriteAllThroughAPipeWaitsForTheReader) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  UniqueFd reader(p[0]), writer(p[1]);
  const std::string bytes(1 << 20, 'z');  // more than a pipe buffer: several short writes
  std::string got;
  pid_t child = ::fork();
  if (child == 0) {
    writer.reset();
    std::string all;
    char buffer[65536];
    ssize_t n;
    while ((n = ::read(reader.get(), buffer, sizeof buffer)) > 0) all.append(buffer, static_cast<size_t>(n));
    ::_exit(all == bytes ? 0 : 1);
  }
  reader.reset();
  ASSERT_TRUE(WriteAll(writer.get(), bytes, "writing the pipe"));
  writer.reset();
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

TEST(Fd, AFailedWriteNamesWhatItWasWriting) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  UniqueFd writer(p[1]);
  ::close(p[0]);
  ::signal(SIGPIPE, SIG_IGN);
  auto written = WriteAll(writer.get(), "lost", "writing the tree stream");
  ASSERT_FALSE(written);
  EXPECT_EQ(written.error().message.rfind("writing the tree stream: ", 0), 0u) << written.error().message;
}

TEST(Fd, DupCloexecIsCloseOnExecAndAboveTheFloor) {
  UniqueFd fd = Memfd();
  auto copy = DupCloexec(fd.get(), 100);
  ASSERT_TRUE(copy);
  EXPECT_GE(copy->get(), 100);
  EXPECT_TRUE(::fcntl(copy->get(), F_GETFD) & FD_CLOEXEC);
  auto bad = DupCloexec(-1);
  ASSERT_FALSE(bad);
  EXPECT_NE(bad.error().message.find("F_DUPFD_CLOEXEC"), std::string::npos);
}

TEST(Fd, ReopenReadOnlyCannotWriteAndHasItsOwnOffset) {
  char path[] = "/tmp/banger-fd-test-XXXXXX";
  UniqueFd fd(::mkostemp(path, O_CLOEXEC));
  ASSERT_TRUE(fd);
  ::unlink(path);
  ASSERT_TRUE(WriteAll(fd.get(), "hello", "writing"));
  auto view = ReopenReadOnly(fd.get());
  ASSERT_TRUE(view);
  EXPECT_EQ(::fcntl(view->get(), F_GETFL) & O_ACCMODE, O_RDONLY);
  EXPECT_LT(::write(view->get(), "x", 1), 0);
  char buffer[8] = {};
  EXPECT_EQ(::read(view->get(), buffer, sizeof buffer), 5);  // from offset 0, not the writer's 5
  EXPECT_STREQ(buffer, "hello");
}

TEST(Fd, ReadWholeFdRefusesMoreThanItsLimit) {
  UniqueFd fd = Memfd();
  ASSERT_TRUE(WriteAll(fd.get(), "0123456789", "writing"));
  auto refused = ReadWholeFd(fd.get(), 9, "the config");
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, ErrorCode::kOversized);
  EXPECT_NE(refused.error().message.find("the config"), std::string::npos);
}

}  // namespace
}  // namespace banger
