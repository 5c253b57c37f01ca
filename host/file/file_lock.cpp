#include "file_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "config.hpp"
#include "paths.hpp"

namespace lowrank {
namespace {

// A lock file's owner removes it while still holding it; a process that opened it just before
// then locks a file no longer in the folder and must open the new one. A few tries suffice.
constexpr int kLockAttempts = 8;
constexpr std::size_t kHolderBytes = 200;  // of a lock file's text shown in a message

// "process 1234 on node17", written into the lock file for whoever finds it held.
std::string holder_text() {
  char host[256] = "?";
  ::gethostname(host, sizeof host - 1);
  return "process " + std::to_string(::getpid()) + " on " + host;
}

// What a held lock file says of its holder (printable characters only).
std::string read_holder(int fd) {
  char buf[kHolderBytes];
  const ssize_t n = ::pread(fd, buf, sizeof buf, 0);
  std::string text = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "";
  std::replace_if(text.begin(), text.end(), [](char c) { return c < ' ' || c > '~'; }, ' ');
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text.empty() ? "another process" : text;
}

}  // namespace

FileLock::FileLock(const std::string& option, const std::filesystem::path& file)
    : path_(file.string() + kLockSuffix) {
  const std::string lock = path_.string();
  for (int attempt = 0; attempt < kLockAttempts; ++attempt) {
    // O_NOFOLLOW and O_NONBLOCK: a link or a FIFO put in the lock file's place is refused, not
    // followed or waited on.
    const int fd = ::open(lock.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0644);
    if (fd < 0) {
      const int error = errno;
      throw ConfigError(option + " '" + shown(file.string()) + "': its lock file '" + shown(lock) + "' cannot be " +
                        (error == ELOOP ? std::string("used: it is a symbolic link")
                                        : "created (" + std::string(std::strerror(error)) + ")"));
    }
    struct stat opened {};
    if (::fstat(fd, &opened) != 0 || !S_ISREG(opened.st_mode)) {
      ::close(fd);
      throw ConfigError(option + " '" + shown(file.string()) + "': its lock file '" + shown(lock) +
                        "' is not a regular file");
    }
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
      const int error = errno;
      if (error == EWOULDBLOCK) {
        const std::string holder = read_holder(fd);
        ::close(fd);
        throw ConfigError(option + " '" + shown(file.string()) + "' is in use: " + holder + " holds its lock '" +
                          shown(lock) + "'; wait for it to end, or stop it");
      }
      if (opened.st_size == 0) ::unlink(lock.c_str());  // made just now, and of no use
      ::close(fd);
      std::fprintf(stderr,
                   "engine: warning: cannot lock '%s' (%s): this file system takes no locks, so nothing stops a "
                   "second engine from writing %s at the same time\n",
                   lock.c_str(), std::strerror(error), file.c_str());
      return;
    }
    struct stat now {};
    if (::stat(lock.c_str(), &now) == 0 && now.st_dev == opened.st_dev && now.st_ino == opened.st_ino) {
      // The holder's name is a courtesy to whoever finds the lock held; the lock stands without it.
      const std::string holder = holder_text();
      [[maybe_unused]] const bool named =
          ::ftruncate(fd, 0) == 0 && ::pwrite(fd, holder.data(), holder.size(), 0) == ssize_t(holder.size());
      fd_ = fd;
      return;
    }
    ::close(fd);  // its previous holder removed it after we opened it: take the one in the folder now
  }
  throw ConfigError(option + " '" + shown(file.string()) + "': its lock file '" + shown(lock) +
                    "' keeps being replaced; is another engine starting on it?");
}

FileLock::~FileLock() {
  if (fd_ < 0) return;
  // While still held, so that no one locks the removed file unnoticed; and only if the name is
  // still this lock file (not one put in its place).
  struct stat held {}, named {};
  if (::fstat(fd_, &held) == 0 && ::stat(path_.c_str(), &named) == 0 && held.st_dev == named.st_dev &&
      held.st_ino == named.st_ino)
    ::unlink(path_.c_str());
  ::close(fd_);
}

}  // namespace lowrank
