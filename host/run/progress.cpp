#include "progress.hpp"

namespace lowrank {

Progress::Progress(std::FILE* out, bool enabled, bool terminal, double log_interval_seconds)
    : out_(out), enabled_(enabled), terminal_(terminal), interval_(log_interval_seconds),
      last_(std::chrono::steady_clock::now()) {}

std::string Progress::line(const RunProgress& r) {
  const double rate = r.seconds > 0 ? static_cast<double>(r.epoch - r.first_epoch) / r.seconds : 0.0;
  const double left = rate > 0 ? static_cast<double>(r.epochs - r.epoch) / rate : 0.0;
  const std::string tail =
      r.state.empty() ? "time left " + std::to_string(static_cast<long long>(left + 0.5)) + " s" : r.state;
  char buf[256];
  std::snprintf(buf, sizeof buf, "%-20s epoch %6lld/%-6lld train_mse %-11.5g %7.2f epochs/s  %s", r.name.c_str(),
                static_cast<long long>(r.epoch), static_cast<long long>(r.epochs), r.train_mse, rate, tail.c_str());
  return buf;
}

void Progress::update(const std::vector<RunProgress>& runs, bool final) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (terminal_) {
    if (drawn_) std::fprintf(out_, "\033[%zuA", drawn_);  // back to the block's first line
    for (const auto& r : runs) std::fprintf(out_, "\r\033[K%s\n", line(r).c_str());
    drawn_ = runs.size();
  } else {
    if (!final && std::chrono::duration<double>(now - last_).count() < interval_) return;
    for (const auto& r : runs) std::fprintf(out_, "%s\n", line(r).c_str());
  }
  last_ = now;
  std::fflush(out_);
}

void Progress::finish_block() { drawn_ = 0; }

}  // namespace lowrank
