// choose_cuda_device with a fake environment and device count: the ranks of a node (Open MPI's
// local rank, else Slurm's) and the workers of each spread over its GPUs, wrapping round.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>

#include "device_choice.hpp"

namespace lowrank {
namespace {

// An environment holding only `vars`.
Environment fake(const std::map<std::string, std::string>& vars) {
  return [vars](const char* name) -> const char* {
    const auto it = vars.find(name);
    return it == vars.end() ? nullptr : it->second.c_str();
  };
}

TEST(DeviceChoice, FiveMpiRanksOnFourGpusUseEveryGpu) {
  // mpirun -np 5 engine sweep --device cuda: rank 0 hands out cells, ranks 1 to 4 train.
  std::set<int> used;
  for (int rank = 1; rank <= 4; ++rank)
    used.insert(choose_cuda_device(4, 0, 1, fake({{"OMPI_COMM_WORLD_LOCAL_RANK", std::to_string(rank)}})));
  EXPECT_EQ(used, (std::set<int>{0, 1, 2, 3}));
  EXPECT_EQ(choose_cuda_device(4, 0, 1, fake({{"OMPI_COMM_WORLD_LOCAL_RANK", "6"}})), 2);  // wraps round
}

TEST(DeviceChoice, PoolWorkersOfOneProcessSpreadAndRanksDoNotOverlap) {
  for (int j = 0; j < 4; ++j) EXPECT_EQ(choose_cuda_device(4, j, 4, fake({})), j);  // --jobs 4, one process
  // Two ranks of --jobs 2 on four GPUs: 0, 1 and 2, 3.
  const auto rank1 = fake({{"OMPI_COMM_WORLD_LOCAL_RANK", "1"}});
  EXPECT_EQ(choose_cuda_device(4, 0, 2, rank1), 2);
  EXPECT_EQ(choose_cuda_device(4, 1, 2, rank1), 3);
}

TEST(DeviceChoice, SlurmsLocalIdWhenOpenMpiSaysNothing) {
  EXPECT_EQ(local_rank(fake({{"SLURM_LOCALID", "3"}})), 3);
  EXPECT_EQ(local_rank(fake({{"SLURM_LOCALID", "3"}, {"OMPI_COMM_WORLD_LOCAL_RANK", "1"}})), 1);
  EXPECT_EQ(choose_cuda_device(2, 0, 1, fake({{"SLURM_LOCALID", "3"}})), 1);
}

TEST(DeviceChoice, OneVisibleDeviceAndMalformedRanks) {
  // CUDA_VISIBLE_DEVICES=2 (Slurm's --gpus-per-task binding): the runtime shows one device, index 0.
  EXPECT_EQ(choose_cuda_device(1, 0, 1, fake({{"OMPI_COMM_WORLD_LOCAL_RANK", "5"}})), 0);
  EXPECT_EQ(choose_cuda_device(0, 0, 1, fake({})), 0);
  for (const char* bad : {"", "x", "-1", "2x", "99999999999999999999"})
    EXPECT_EQ(local_rank(fake({{"OMPI_COMM_WORLD_LOCAL_RANK", bad}})), 0) << bad;
}

}  // namespace
}  // namespace lowrank
