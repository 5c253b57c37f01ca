#include "device_choice.hpp"

#include <charconv>
#include <cstdlib>
#include <cstring>

namespace lowrank {

int local_rank(const Environment& env) {
  for (const char* name : {"OMPI_COMM_WORLD_LOCAL_RANK", "SLURM_LOCALID"}) {
    const char* text = env(name);
    if (!text) continue;
    int rank = -1;
    const char* end = text + std::strlen(text);
    const auto [stop, error] = std::from_chars(text, end, rank);
    if (error == std::errc() && stop == end && rank >= 0) return rank;
  }
  return 0;
}

int choose_cuda_device(int device_count, int worker, int workers, const Environment& env) {
  if (device_count <= 0) return 0;
  const long long slot = static_cast<long long>(local_rank(env)) * workers + worker;
  return static_cast<int>(slot % device_count);
}

const char* process_environment(const char* name) { return std::getenv(name); }

}  // namespace lowrank
