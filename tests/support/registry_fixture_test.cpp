// The registry fixture itself: once it says ready, a SIGTERM stops it and the registry
// behind it, whenever that SIGTERM lands. A Python-level handler could miss one (Python
// runs handlers between bytecodes, and one landing just before waitpid was never run),
// which hung a CI run at a test's teardown; the fixture takes it with sigtimedwait.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include "tests/support/registry_fixture.h"

namespace banger::testing {
namespace {

bool SignalIsIn(const std::string& hex_mask, int signo) {
  return !hex_mask.empty() && ((std::stoull(hex_mask, nullptr, 16) >> (signo - 1)) & 1) != 0;
}

bool SomethingListensOn(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool connected = ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  return connected;
}

TEST(RegistryFixture, TakesSigtermWithoutAHandlerThatCouldMissIt) {
  ScratchDir root("banger-registry");
  FixtureProcess registry;
  ASSERT_TRUE(registry.Start({"/usr/bin/python3", FixturesDir() + "/registry.py", "--root", root.path()}));
  const pid_t pid = registry.pid();
  const int port = registry.port();
  // (SigBlk is no witness: sigtimedwait unblocks what it waits for while it waits.)
  EXPECT_FALSE(SignalIsIn(ProcStatusField(pid, "SigCgt"), SIGTERM)) << "no handler that runs only between bytecodes";
  EXPECT_TRUE(SomethingListensOn(port));
  registry.Stop();
  EXPECT_FALSE(SomethingListensOn(port)) << "docker-registry stopped with its fixture";
}

}  // namespace
}  // namespace banger::testing
