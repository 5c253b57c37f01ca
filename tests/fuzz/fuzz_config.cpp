// libFuzzer target: the configuration parser (TOML text and --set overrides). An input is the
// TOML text, then each override after a NUL byte. Every input must either be refused with a
// ConfigError or give a configuration whose resolved TOML parses back to the same configuration
// (what the file's `config` attribute and --resume rely on). Anything else (another exception,
// a crash, a sanitizer report) is a finding.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "config.hpp"
#include "memory_estimate.hpp"

namespace {

[[noreturn]] void finding(const char* what) {
  std::fprintf(stderr, "finding: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace lowrank;
  const std::string input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> parts;
  for (std::size_t start = 0;;) {
    const std::size_t nul = input.find('\0', start);
    parts.push_back(input.substr(start, nul == std::string::npos ? std::string::npos : nul - start));
    if (nul == std::string::npos) break;
    start = nul + 1;
  }
  const std::vector<std::string> overrides(parts.begin() + 1, parts.end());
  Config config;
  try {
    config = parse_config(parts[0], "fuzz.toml", overrides);
  } catch (const ConfigError&) {
    return 0;  // refused, with a message: what bad input should get
  }
  const std::string resolved = config.to_toml();
  Config again;
  try {
    again = parse_config(resolved, "resolved", {});
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "%s\n--- resolved:\n%s\n", e.what(), resolved.c_str());
    finding("the resolved TOML of an accepted configuration is refused");
  }
  if (again.to_toml() != resolved) finding("the resolved TOML does not reproduce the configuration");
  std::size_t grouped = 0;
  for (const auto& group : side_by_side_groups(config)) grouped += group.size();
  if (grouped != config.runs.size()) finding("the side-by-side groups do not hold every run once");
  const MemoryEstimate need = estimate_memory(config, false);
  if (!(need.host_bytes > 0) || std::isnan(need.host_bytes)) finding("the memory estimate is not a positive number");
  return 0;
}
