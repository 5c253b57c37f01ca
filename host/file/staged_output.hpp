// A new output file is set up under a temporary name beside its final one (`<file>.part`) and
// renamed over it only once set up: a set-up that fails or is killed never leaves a half-made
// file under the final name, nor removes the file it was to replace (--force).
#pragma once

#include <filesystem>
#include <string>

namespace lowrank {

class StagedOutput {
 public:
  // Checks that the folder takes the temporary file (creating and removing it); a ConfigError
  // naming `option` when it does not. Call with the file's lock held (file_lock.hpp): a `.part`
  // found there is then a killed engine's, and is removed. The writer creates the temporary file
  // anew, exclusively (H5F_ACC_EXCL), so that nothing put in its place meanwhile is followed.
  StagedOutput(const std::string& option, std::filesystem::path file);
  ~StagedOutput();  // removes the temporary file unless committed
  StagedOutput(const StagedOutput&) = delete;
  StagedOutput& operator=(const StagedOutput&) = delete;

  const std::filesystem::path& temporary() const { return temporary_; }
  bool committed() const { return committed_; }
  // Renames the temporary file to the final name: over an existing file only when `replace`.
  void commit(bool replace);

 private:
  std::filesystem::path file_, temporary_;
  bool committed_ = false;
};

}  // namespace lowrank
