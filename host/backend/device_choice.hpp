// Which CUDA device a worker uses, so that the ranks and pool workers of a sweep on a node with
// several GPUs spread over them. A pure function of the device count and the environment, so that
// the mapping is tested without a GPU.
#pragma once

#include <functional>

namespace lowrank {

// A lookup like std::getenv (nullptr for an unset variable).
using Environment = std::function<const char*(const char*)>;

// This process's rank among the processes of its node: Open MPI's OMPI_COMM_WORLD_LOCAL_RANK,
// else Slurm's SLURM_LOCALID (srun), else 0; a value that is not a non-negative integer is ignored.
int local_rank(const Environment& env);

// The device of worker `worker` (0 ≤ worker < workers) of this process: worker
// local_rank · workers + worker of the node, modulo `device_count`. The index is among the devices
// the CUDA runtime shows, so CUDA_VISIBLE_DEVICES (set by hand, or by Slurm's GPU binding) is
// honoured: with one visible device every worker takes it. 0 when there is none.
int choose_cuda_device(int device_count, int worker, int workers, const Environment& env);

// The process's own environment.
const char* process_environment(const char* name);

}  // namespace lowrank
