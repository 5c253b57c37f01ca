// A sweep's cells across MPI ranks (`mpirun -np R engine sweep ...`, SPEC §10): rank 0 reads the
// sweep, writes the one sweep file and hands cells out to ranks 1…R−1 as they return theirs
// (dynamic: a slow cell holds one rank, not a share); each rank trains its cells on one thread
// (with keep_runs, writing each cell's engine file) and sends the gathered values back. Built with Debian's OpenMPI when CMake finds it; without
// MPI, or not launched by mpirun, a session of one rank and the local pool does the work.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "sweep_config.hpp"
#include "sweep_file.hpp"

namespace lowrank {

struct CellWork {
  std::int64_t cell, replicate;
};

class MpiSession {
 public:
  MpiSession(int& argc, char**& argv);  // MPI_Init when launched by mpirun
  ~MpiSession();                        // MPI_Finalize
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

  int rank() const { return rank_; }
  int size() const { return size_; }

  // Rank 0: sends the other ranks the sweep (base and [sweep] as TOML), the device and, with
  // keep_runs, the folder (absolute) for the cells' own files; or, with `text` empty, tells them
  // there is nothing to do. Every rank-0 path calls one of these once.
  void start_workers(const std::string& text, bool gpu, const std::string& kept_folder = "");
  // Rank 0: hands out `work` to ranks 1…R−1, two cells queued at each while there are enough for
  // every rank, so that a rank's next cell is already there when it returns one, and writes each
  // result as it comes. At a stop signal it hands out no more; the cells already queued are still
  // trained and written. Returns the number of results written.
  std::size_t serve(const std::vector<CellWork>& work, const std::function<void(const CellWork&, const CellResult&)>& write);
  // Ranks 1…R−1: train the cells rank 0 hands out until it says stop; the exit code.
  int work();
  // Rank 0, after a failure: ends every rank (MPI_Abort).
  [[noreturn]] void abort_all(int code);

 private:
  int rank_ = 0, size_ = 1;
  bool initialised_ = false, started_ = false;
};

}  // namespace lowrank
