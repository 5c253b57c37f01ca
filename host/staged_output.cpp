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
  for (int attempt = 0; attempt < 2; ++attempt) {
    const int fd = ::open(temporary_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd >= 0) {
      ::close(fd);
      return;
    }
    if (errno != EEXIST || attempt > 0 || ::unlink(temporary_.c_str()) != 0) break;
  }
  throw ConfigError(option + " '" + shown(file_.string()) + "': cannot create '" + shown(temporary_.string()) +
                    "' beside it (" + std::strerror(errno) + ")");
}

StagedOutput::~StagedOutput() {
  if (!committed_) ::unlink(temporary_.c_str());
}

void StagedOutput::commit(bool replace) {
  // RENAME_NOREPLACE: without --force, a file that appeared under the final name meanwhile is kept.
  if (::renameat2(AT_FDCWD, temporary_.c_str(), AT_FDCWD, file_.c_str(), replace ? 0 : RENAME_NOREPLACE) != 0)
    throw std::runtime_error("cannot rename '" + temporary_.string() + "' to '" + file_.string() +
                             "': " + std::strerror(errno));
  committed_ = true;
}

}  // namespace lowrank
