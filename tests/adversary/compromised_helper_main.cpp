// A stand-in for a helper compromised after it locked down: installed as banger-unpacker
// or banger-imager (its file name says which), it locks down exactly as the real one does,
// then answers the broker's first request with the body in the file FILE.reply beside
// itself (read before lockdown): what an attacker owning the process might send. The
// reply "grow-file N" instead tries to write far past the end of the file it was given
// as fd N of its request (the imager's image is 0, the unpacker's spool 1), and reports
// how that went as its error. The reply "silent" is no reply at all: the helper holds its
// request until it is killed.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "base/fd.h"
#include "security/helper_session.h"

namespace {

using banger::Result;
namespace ipc = banger::ipc;
namespace security = banger::security;

struct Scenario {
  ipc::MessageType reply_type = ipc::MessageType::kUnpackDone;
  std::string body;
  int grow_fd = -1;  // which of the request's fds to grow, or none
  bool silent = false;
};

// 64 GiB into the image file: past any image the test pulls, well inside the 1 TiB the
// imager's sandbox allows before the broker sizes it.
ipc::Message GrowAFile(const ipc::Message& request, int index) {
  if (request.fds.size() <= static_cast<size_t>(index)) {
    return ipc::MakeErrorMessage(banger::Error{banger::ErrorCode::kIo, "no such fd"});
  }
  const ssize_t written = ::pwrite(request.fds[index].get(), "x", 1, off_t{64} << 30);
  const std::string outcome = written == 1 ? "written" : std::strerror(errno);
  return ipc::MakeErrorMessage(banger::Error{banger::ErrorCode::kIo, "writing past the file: " + outcome});
}

// FILE.reply: the reply's type name on the first line, its body after.
Result<Scenario> ReadScenario(const std::string& self) {
  banger::UniqueFd fd(::open((self + ".reply").c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return banger::Error::FromErrno("reading " + self + ".reply");
  BANGER_ASSIGN_OR_RETURN(std::string text, banger::ReadWholeFd(fd.get(), 1 << 16, self + ".reply"));
  const size_t newline = text.find('\n');
  const std::string type = text.substr(0, newline);
  Scenario scenario;
  scenario.body = newline == std::string::npos ? "" : text.substr(newline + 1);
  if (type == "unpack-progress") scenario.reply_type = ipc::MessageType::kUnpackProgress;
  if (type == "image-done") scenario.reply_type = ipc::MessageType::kImageDone;
  if (type == "bundle-extracted") scenario.reply_type = ipc::MessageType::kBundleExtracted;
  if (type == "error") scenario.reply_type = ipc::MessageType::kError;
  if (type.starts_with("grow-file ")) scenario.grow_fd = std::stoi(type.substr(10));
  scenario.silent = type == "silent";
  return scenario;
}

}  // namespace

int main(int, char** argv) {
  const std::string self = argv[0];
  const std::string name = self.substr(self.rfind('/') + 1);
  const auto kind = name == "banger-imager" ? security::ProcessKind::kImager : security::ProcessKind::kUnpacker;
  Scenario scenario;
  auto initialise = [&]() -> Result<void> {
    BANGER_ASSIGN_OR_RETURN(scenario, ReadScenario(self));
    return {};
  };
  auto serve = [&scenario](ipc::Channel& channel) -> security::MessageHandler {
    return [&channel, &scenario](ipc::Message& message) -> Result<bool> {
      const bool request = message.type == ipc::MessageType::kUnpackBegin ||
                           message.type == ipc::MessageType::kImageBegin ||
                           message.type == ipc::MessageType::kExtractBundle;
      if (request && scenario.grow_fd >= 0) BANGER_TRY(channel.Send(GrowAFile(message, scenario.grow_fd)));
      if (request && scenario.grow_fd < 0 && !scenario.silent) {
        BANGER_TRY(channel.Send(ipc::Message::Make(scenario.reply_type, scenario.body)));
      }
      return true;  // layers and everything else: taken and ignored
    };
  };
  return security::RunHelper(name, kind, initialise, serve);
}
