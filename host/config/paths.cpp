#include "paths.hpp"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "config.hpp"

namespace fs = std::filesystem;

namespace lowrank {
namespace {

// The kernel's own file systems: a file cannot be made there, and a write fails in odd ways
// (on /proc the engine used to blame a full disk).
constexpr std::pair<decltype(statfs::f_type), const char*> kPseudoFileSystems[] = {
    {PROC_SUPER_MAGIC, "proc"},     {SYSFS_MAGIC, "sysfs"},         {CGROUP_SUPER_MAGIC, "cgroup"},
    {CGROUP2_SUPER_MAGIC, "cgroup2"}, {DEBUGFS_MAGIC, "debugfs"},   {TRACEFS_MAGIC, "tracefs"},
    {SECURITYFS_MAGIC, "securityfs"}, {DEVPTS_SUPER_MAGIC, "devpts"}, {BPF_FS_MAGIC, "bpf"},
    {PSTOREFS_MAGIC, "pstore"},     {EFIVARFS_MAGIC, "efivarfs"},   {SELINUX_MAGIC, "selinuxfs"},
    {NSFS_MAGIC, "nsfs"},
};

[[noreturn]] void refuse(const std::string& option, const std::string& path, const std::string& what) {
  throw ConfigError(option + " '" + shown(path) + "' " + what);
}

// Why a path could not be examined or opened, from errno.
std::string reason(int error) {
  switch (error) {
    case ENOENT: return "does not exist";
    case ELOOP: return "is a symbolic link loop (or a chain of too many links)";
    case ENAMETOOLONG: return "is too long a name for the file system";
    case ENOTDIR: return "has a file, not a folder, on its path";
    case EACCES: return "cannot be reached (permission denied)";
    default: return std::string("cannot be examined (") + std::strerror(error) + ")";
  }
}

// "a FIFO", "a folder"...: what a non-regular file is, for messages.
const char* kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a folder";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "a special file";
}

// Why `path`, a symbolic link, does not resolve ("" when it is no link, or one that resolves).
std::string unresolved_link(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 || !S_ISLNK(st.st_mode) || ::stat(path.c_str(), &st) == 0) return "";
  const int error = errno;
  std::error_code ec;
  const std::string points_to = fs::read_symlink(path, ec).string();
  if (error == ENOENT) return "is a symbolic link to '" + shown(points_to) + "', which does not exist";
  return error == ELOOP ? reason(error) : "is a symbolic link that does not resolve: it " + reason(error);
}

// Follows `path` if it is a symbolic link: its target, or a refusal for a link that does not
// resolve. Other paths come back as they are.
fs::path resolve_link(const std::string& option, const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) return path;
  if (const std::string why = unresolved_link(path); !why.empty()) refuse(option, path, why);
  std::error_code ec;
  fs::path target = fs::canonical(path, ec);
  if (ec) refuse(option, path, "is a symbolic link that does not resolve (" + ec.message() + ")");
  return target;
}

// The folder holding `file` must exist, take new files, and be on a disk; the name must leave
// room for the engine's suffixes.
void check_folder(const std::string& option, const fs::path& file) {
  const fs::path dir = file.has_parent_path() ? file.parent_path() : fs::path(".");
  struct stat st {};
  if (::stat(dir.c_str(), &st) != 0) {
    const int error = errno;
    refuse(option, file.string(),
           "cannot be written: its folder '" + shown(dir.string()) + "' " +
               (error == ENOTDIR ? std::string("is a file, not a folder") : reason(error)));
  }
  if (!S_ISDIR(st.st_mode))
    refuse(option, file.string(), "cannot be written: '" + shown(dir.string()) + "' is not a folder");
  struct statfs fs_info {};
  if (::statfs(dir.c_str(), &fs_info) == 0)
    for (const auto& [magic, name] : kPseudoFileSystems)
      if (fs_info.f_type == magic)
        refuse(option, file.string(),
               std::string("cannot be written: its folder '") + shown(dir.string()) + "' is on the kernel's " + name +
                   " file system, not a disk; choose a folder on a disk");
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    const int error = errno;
    refuse(option, file.string(),
           "cannot be written: its folder '" + shown(dir.string()) + "' is " +
               (error == EROFS ? "on a read-only file system" : "not writable"));
  }
  const long name_max = ::pathconf(dir.c_str(), _PC_NAME_MAX);
  const std::size_t suffix = std::max(std::strlen(kLockSuffix), std::strlen(kPartSuffix));
  const std::size_t name = file.filename().string().size();
  if (name_max > 0 && name + suffix > static_cast<std::size_t>(name_max))
    refuse(option, file.string(),
           "has a file name of " + std::to_string(name) + " bytes: this file system takes names of at most " +
               std::to_string(name_max) + ", and the engine writes '<name>" + kLockSuffix + "' beside it, so at most " +
               std::to_string(static_cast<std::size_t>(name_max) - suffix));
}

}  // namespace

std::string shown(const std::string& path) {
  constexpr std::size_t kShown = 60;
  if (path.size() <= kShown) return path;
  return path.substr(0, kShown) + "... (" + std::to_string(path.size()) + " characters)";
}

std::string not_a_regular_file(const std::string& path) {
  if (std::string why = unresolved_link(path); !why.empty()) return why;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return reason(errno);
  if (!S_ISREG(st.st_mode)) return std::string("is ") + kind_of(st.st_mode) + ", not a file";
  return "";
}

std::string read_regular_file(const std::string& option, const std::string& path, std::size_t max_bytes) {
  if (path.empty()) throw ConfigError(option + ": the path is empty");
  // O_NONBLOCK: opening a FIFO returns at once (to be refused below) instead of waiting for a writer.
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd < 0) {
    const int error = errno;
    resolve_link(option, path);  // a link that does not resolve says where it points
    refuse(option, path, "cannot be read: it " + reason(error));
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int error = errno;
    refuse(option, path, std::string("cannot be read (") + std::strerror(error) + ")");
  }
  if (!S_ISREG(st.st_mode)) refuse(option, path, std::string("is ") + kind_of(st.st_mode) + ", not a file");
  if (static_cast<std::size_t>(st.st_size) > max_bytes)
    refuse(option, path,
           "is " + std::to_string(st.st_size) + " bytes; at most " + std::to_string(max_bytes) + " are read");
  std::string text(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t got = 0;
  while (got < text.size()) {
    const ssize_t n = ::read(fd, text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      refuse(option, path, std::string("cannot be read (") + std::strerror(error) + ")");
    }
    if (n == 0) break;  // shrank while read
    got += static_cast<std::size_t>(n);
  }
  text.resize(got);
  return text;
}

fs::path existing_output(const std::string& option, const std::string& path) {
  if (path.empty()) throw ConfigError(option + ": the path is empty");
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    const int error = errno;
    if (error == ENOENT) throw ConfigError(option + ": no such file '" + shown(path) + "'");
    refuse(option, path, reason(error));
  }
  const fs::path file = resolve_link(option, path);
  if (::stat(file.c_str(), &st) != 0) {
    const int error = errno;
    refuse(option, path, reason(error));
  }
  if (!S_ISREG(st.st_mode)) refuse(option, path, std::string("is ") + kind_of(st.st_mode) + ", not a file");
  if (::access(file.c_str(), R_OK | W_OK) != 0) {
    const int error = errno;
    refuse(option, path, error == EROFS ? "is on a read-only file system" : "is not readable and writable");
  }
  check_folder(option, file);
  return file;
}

fs::path new_output(const std::string& option, const std::string& path, bool replace) {
  if (path.empty()) throw ConfigError(option + ": the path is empty; give a file name");
  const fs::path given(path);
  if (!given.has_filename() || given.filename() == "." || given.filename() == "..")
    refuse(option, path, "names a folder; give a file name");
  for (const char* suffix : {kLockSuffix, kPartSuffix})
    if (given.filename().string().ends_with(suffix))
      refuse(option, path, std::string("ends in '") + suffix + "', which the engine keeps for the files it puts beside "
                               "its outputs; choose another name");
  struct stat st {};
  fs::path file = given;
  if (::lstat(path.c_str(), &st) == 0) {
    file = resolve_link(option, path);
    if (::stat(file.c_str(), &st) != 0) {
      const int error = errno;
      refuse(option, path, reason(error));
    }
    if (S_ISDIR(st.st_mode)) refuse(option, path, "is a folder; give a file name (e.g. '" + shown(path) + "/run.h5')");
    if (!S_ISREG(st.st_mode))
      refuse(option, path, std::string("exists and is ") + kind_of(st.st_mode) + ", not a file the engine may replace");
    if (!replace) refuse(option, path, "exists; pass --force to replace it, or choose another --out");
  } else if (errno != ENOENT) {
    const int error = errno;
    if (error == ENOTDIR) check_folder(option, given);  // names the file on the way
    refuse(option, path, reason(error));
  }
  check_folder(option, file);
  return file;
}

std::string shell_quote(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.,/=:+@") ==
                        std::string::npos)
    return s;
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

}  // namespace lowrank
