#include "staged_output.hpp"

#include <fcntl.h>
#include <stdio.h>  // renameat2
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "config.hpp"
#include "paths.hpp"

namespace lowrank {

StagedOutput::StagedOutput(const std::string& option, std::filesystem::path file)
    : file_(std::move(file)), temporary_(file_.string() + kPartSuffix) {
  ::unlink(temporary_.c_str());  // a killed engine's: the lock held here makes the name ours
  const int fd = ::open(temporary_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  const int error = errno;
  if (fd < 0)
    throw ConfigError(option + " '" + shown(file_.string()) + "': cannot create '" + shown(temporary_.string()) +
                      "' beside it (" + std::strerror(error) + ")");
  ::close(fd);
  ::unlink(temporary_.c_str());
}

StagedOutput::~StagedOutput() {
  if (!committed_) ::unlink(temporary_.c_str());
}

void StagedOutput::commit(bool replace) {
  int result = ::renameat2(AT_FDCWD, temporary_.c_str(), AT_FDCWD, file_.c_str(), replace ? 0 : RENAME_NOREPLACE);
  // File systems without rename flags (NFS, some cluster file systems) refuse RENAME_NOREPLACE:
  // link() refuses an existing name there too.
  if (result != 0 && !replace && (errno == EINVAL || errno == ENOSYS)) {
    result = ::link(temporary_.c_str(), file_.c_str());
    if (result == 0) ::unlink(temporary_.c_str());
  }
  const int error = errno;
  if (result != 0)
    throw std::runtime_error("cannot rename '" + temporary_.string() + "' to '" + file_.string() +
                             "': " + std::strerror(error));
  committed_ = true;
}

}  // namespace lowrank
