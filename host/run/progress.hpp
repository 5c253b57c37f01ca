// Progress of the runs being trained: on a terminal, one line per run redrawn in place; in a
// log, plain lines every few seconds.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace lowrank {

struct RunProgress {
  std::string name;
  std::int64_t epoch = 0, epochs = 0;  // epochs done, of
  std::int64_t first_epoch = 0;        // where this process started (resumed runs)
  double train_mse = 0;
  double seconds = 0;  // spent training so far
  std::string state;   // "", "done", "diverged"
};

class Progress {
 public:
  // `enabled` false prints nothing; `terminal` chooses in-place redraws over plain lines.
  Progress(std::FILE* out, bool enabled, bool terminal, double log_interval_seconds = 5.0);
  // Shows `runs` (the runs trained side by side now); `final` forces a line in a log.
  void update(const std::vector<RunProgress>& runs, bool final = false);
  // Ends the current block of lines, so the next block starts below it.
  void finish_block();

 private:
  static std::string line(const RunProgress& r);
  std::FILE* out_;
  bool enabled_, terminal_;
  double interval_;
  std::size_t drawn_ = 0;  // lines drawn in the current block (terminal)
  std::chrono::steady_clock::time_point last_;
};

}  // namespace lowrank
