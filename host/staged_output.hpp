// A new output file is set up under a temporary name beside its final one (`<file>.part`) and
// renamed over it only once set up: a set-up that fails or is killed never leaves a half-made
// file under the final name, nor removes the file it was to replace (--force).
#pragma once

#include <filesystem>
#include <string>

namespace lowrank {

class StagedOutput {
 public:
  // Creates the temporary file, exclusively; a ConfigError naming `option` when the folder
  // refuses it. Call with the file's lock held (file_lock.hpp): a `.part` found there is then a
  // killed engine's, and is replaced.
  StagedOutput(const std::string& option, std::filesystem::path file);
  ~StagedOutput();  // removes the temporary file unless committed
  StagedOutput(const StagedOutput&) = delete;
  StagedOutput& operator=(const StagedOutput&) = delete;

  const std::filesystem::path& temporary() const { return temporary_; }
  // Renames the temporary file to the final name: over an existing file only when `replace`.
  void commit(bool replace);

 private:
  std::filesystem::path file_, temporary_;
  bool committed_ = false;
};

}  // namespace lowrank
