#include "broker/registry/certificates.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>

#include "base/fd.h"
#include "ipc/fetch_protocol.h"

namespace banger::broker {
namespace {

constexpr uint64_t kMaxCertificateBytes = 32 * 1024;

}  // namespace

Result<std::string> RegistryCaPem(const std::vector<std::string>& dirs, const std::string& registry) {
  std::string pem;
  for (const std::string& base : dirs) {
    const std::string dir = base + "/" + registry;
    auto listed = ListDirectory(dir);
    if (!listed) continue;  // no certificates for this registry here
    std::vector<std::string> names;
    for (const std::string& name : *listed) {
      if (name.size() > 4 && name.ends_with(".crt")) names.push_back(name);
    }
    std::sort(names.begin(), names.end());
    for (const std::string& name : names) {
      const std::string path = dir + "/" + name;
      UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
      if (!fd) return Error::FromErrno("reading " + path);
      BANGER_ASSIGN_OR_RETURN(std::string text, ReadWholeFd(fd.get(), kMaxCertificateBytes, path));
      pem += text + "\n";
    }
  }
  if (pem.size() > ipc::kMaxCaPemBytes) {
    return Error{ErrorCode::kOversized, "CA certificates for " + registry + " exceed " +
                                            std::to_string(ipc::kMaxCaPemBytes / 1024) + " KiB"};
  }
  return pem;
}

}  // namespace banger::broker
