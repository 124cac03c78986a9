#include "tests/support/test_support.h"

#include <fcntl.h>
#include <grp.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <csignal>
#include <fstream>
#include <sstream>
#include <vector>

namespace banger::testing {

std::string Hex(const std::string& bytes) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out += kHex[c >> 4];
    out += kHex[c & 15];
  }
  return out;
}

bool SkipsAllowed() {
  const char* allowed = std::getenv("BANGER_ALLOW_SKIPS");
  return allowed != nullptr && std::string(allowed) == "1";
}

ScratchDir::ScratchDir(const std::string& tag) {
  std::string pattern = (std::filesystem::temp_directory_path() / (tag + "-XXXXXX")).string();
  if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  ::chmod(pattern.c_str(), 0755);
  path_ = pattern;
}

ScratchDir::~ScratchDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

std::string CopyExecutable(const std::string& file, const std::string& dir) {
  std::string target = dir + "/" + std::filesystem::path(file).filename().string();
  std::filesystem::copy_file(file, target, std::filesystem::copy_options::overwrite_existing);
  ::chmod(target.c_str(), 0755);
  return target;
}

std::string RunAsNobody(const std::function<std::string()>& body) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return "pipe2 failed";
  pid_t pid = ::fork();
  if (pid == 0) {
    ::close(pipe_fds[0]);
    std::string result;
    if (::setgroups(0, nullptr) != 0 || ::setresgid(65534, 65534, 65534) != 0 ||
        ::setresuid(65534, 65534, 65534) != 0) {
      result = "could not switch to nobody";
    } else {
      result = body();
    }
    [[maybe_unused]] ssize_t n = ::write(pipe_fds[1], result.data(), result.size());
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  std::string result;
  char buffer[4096];
  ssize_t n;
  while ((n = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0) result.append(buffer, static_cast<size_t>(n));
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return "the nobody process crashed; " + result;
  return result;
}

CommandResult RunCommand(const std::string& command) {
  CommandResult result;
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return result;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) result.output.append(buffer, n);
  int status = ::pclose(pipe);
  result.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

BackgroundCommand::BackgroundCommand(const std::string& command, const std::string& output_file)
    : output_file_(output_file) {
  pid_ = ::fork();
  if (pid_ == 0) {
    const int out = ::open(output_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out >= 0) {
      ::dup2(out, 1);
      ::dup2(out, 2);
    }
    ::execl("/bin/sh", "sh", "-c", ("exec " + command).c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
}

BackgroundCommand::~BackgroundCommand() {
  if (pid_ > 0 && status_ < 0) {
    ::kill(pid_, SIGKILL);
    int status;
    ::waitpid(pid_, &status, 0);
  }
}

int BackgroundCommand::Wait(int timeout_ms) {
  if (status_ >= 0) return status_;
  for (int waited = 0;; waited += 20) {
    int status;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      return status_;
    }
    if (waited >= timeout_ms) return -1;
    ::usleep(20000);
  }
}

std::string BackgroundCommand::Output() const {
  std::ifstream in(output_file_);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string BangerCommand(const std::string& state_dir, const std::string& cache_dir, const std::string& extra_env) {
  return "env BANGER_STATE_DIR=" + state_dir + " BANGER_CACHE_DIR=" + cache_dir + " DOCKER_CONFIG=" + cache_dir + " " +
         (extra_env.empty() ? "" : extra_env + " ") + BANGER_BIN_DIR_FOR_SUPPORT + "/banger ";
}

bool Exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

std::string SourceDir() { return BANGER_SOURCE_DIR; }

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::string ProcStatusField(pid_t pid, const std::string& field) {
  std::istringstream status(ReadFile("/proc/" + std::to_string(pid) + "/status"));
  for (std::string line; std::getline(status, line);) {
    if (line.rfind(field + ":", 0) == 0) {
      std::string value = line.substr(field.size() + 1);
      value.erase(0, value.find_first_not_of(" \t"));
      return value;
    }
  }
  return "";
}

std::map<std::string, pid_t> StalledHelpers(const std::string& file) {
  std::map<std::string, pid_t> out;
  std::istringstream lines(ReadFile(file));
  std::string name;
  pid_t pid;
  while (lines >> name >> pid) out[name] = pid;
  return out;
}

nlohmann::json LastJsonLine(const std::string& output) {
  std::string text = output;
  while (!text.empty() && text.back() == '\n') text.pop_back();
  const size_t start = text.rfind('\n');
  return nlohmann::json::parse(start == std::string::npos ? text : text.substr(start + 1), nullptr, false);
}

bool WaitFor(const std::function<bool()>& predicate, int timeout_ms) {
  for (int waited = 0;; waited += 20) {
    if (predicate()) return true;
    if (waited >= timeout_ms) return false;
    ::usleep(20000);
  }
}

size_t ResidentPages(int fd, uint64_t offset, uint64_t length) {
  struct stat st {};
  if (::fstat(fd, &st) != 0 || static_cast<uint64_t>(st.st_size) <= offset) return SIZE_MAX;
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE)), size = static_cast<uint64_t>(st.st_size);
  if (length == 0 || offset + length > size) length = size - offset;
  const uint64_t first = offset / page * page, end = offset + length;
  void* map = ::mmap(nullptr, end - first, PROT_READ, MAP_SHARED, fd, static_cast<off_t>(first));
  if (map == MAP_FAILED) return SIZE_MAX;
  std::vector<unsigned char> resident((end - first + page - 1) / page);
  const int rc = ::mincore(map, end - first, resident.data());
  ::munmap(map, end - first);
  if (rc != 0) return SIZE_MAX;
  size_t count = 0;
  for (unsigned char r : resident) count += r & 1;
  return count;
}

}  // namespace banger::testing
