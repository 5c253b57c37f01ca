// One writer per file: an advisory lock (flock) on `<file>.lock` beside it, held while the engine
// writes the file. The lock file says who holds it (process and host); it is removed on release,
// and a stale one, left by a killed engine, is taken over (the kernel dropped its lock). HDF5's
// own lock cannot serve: it is released once SWMR writing starts, so that readers may open the file.
#pragma once

#include <filesystem>
#include <string>

namespace lowrank {

class FileLock {
 public:
  // Takes the lock of `file`, or throws a ConfigError naming `option`, the file and its holder.
  // On a file system without locks it warns on stderr and goes on unlocked.
  FileLock(const std::string& option, const std::filesystem::path& file);
  ~FileLock();
  FileLock(const FileLock&) = delete;
  FileLock& operator=(const FileLock&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;  // the lock file
  int fd_ = -1;                 // holds the lock; -1 when unlocked
};

}  // namespace lowrank
