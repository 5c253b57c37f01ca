#include "mpi_cells.hpp"

#include <chrono>
#include <cstdlib>
#include <thread>
#include <stdexcept>

#include "cell_runner.hpp"
#include "cuda_backend.hpp"
#include "stop_signals.hpp"

#ifdef LOWRANK_MPI
#include <mpi.h>
#endif

namespace lowrank {

#ifdef LOWRANK_MPI
namespace {

// Message tags: a worker asks (ready) or returns a cell (result) or its failure; rank 0 answers
// with a cell (work) or stop.
enum Tag : int { kReady = 1, kResult = 2, kFailed = 3, kWork = 4, kStop = 5 };

// Cells queued at a rank: its next one waits there while it trains one, so that it never waits
// for rank 0 (which polls with pauses).
constexpr int kCellsInFlight = 2;

// Launched by mpirun (OpenMPI's, or another that sets PMI/PMIx variables).
bool launched_by_mpirun() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"})
    if (std::getenv(name)) return true;
  return false;
}

}  // namespace

MpiSession::MpiSession(int& argc, char**& argv) {
  if (!launched_by_mpirun()) return;
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
  initialised_ = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
}

MpiSession::~MpiSession() {
  if (rank_ == 0 && size_ > 1 && !started_) start_workers("", false);  // a rank-0 path that returned early
  if (initialised_) MPI_Finalize();
}

namespace {

void broadcast_text(const std::string& text) {
  if (!text.empty()) MPI_Bcast(const_cast<char*>(text.data()), static_cast<int>(text.size()), MPI_CHAR, 0, MPI_COMM_WORLD);
}

std::string receive_text(long long length) {
  std::string text(static_cast<std::size_t>(length), '\0');
  if (length > 0) MPI_Bcast(text.data(), static_cast<int>(length), MPI_CHAR, 0, MPI_COMM_WORLD);
  return text;
}

}  // namespace

void MpiSession::start_workers(const std::string& text, bool gpu, const std::string& kept_folder) {
  if (size_ == 1 || started_) return;
  started_ = true;
  long long header[3] = {static_cast<long long>(text.size()), gpu ? 1 : 0, static_cast<long long>(kept_folder.size())};
  MPI_Bcast(header, 3, MPI_LONG_LONG, 0, MPI_COMM_WORLD);
  broadcast_text(text);
  broadcast_text(kept_folder);
}

std::size_t MpiSession::serve(const std::vector<CellWork>& work,
                              const std::function<void(const CellWork&, const CellResult&)>& write) {
  std::size_t next = 0, written = 0;
  std::vector<int> in_flight(static_cast<std::size_t>(size_), 0);
  int live = size_ - 1;  // ranks not yet told to stop
  // Tops up `rank`'s queue: a first cell always, a second only while there are cells for every
  // rank (a short sweep or its tail goes one a rank); a rank with nothing queued and nothing left
  // to hand out is told to stop.
  auto refill = [&](int rank) {
    int& queued = in_flight[static_cast<std::size_t>(rank)];
    auto plenty = [&] { return work.size() - next >= static_cast<std::size_t>(live); };
    for (; queued < kCellsInFlight && next < work.size() && (queued == 0 || plenty()) && !stop_signal();
         ++queued, ++next) {
      const long long cell[2] = {work[next].cell, work[next].replicate};
      MPI_Send(cell, 2, MPI_LONG_LONG, rank, kWork, MPI_COMM_WORLD);
    }
    if (queued == 0) {
      MPI_Send(nullptr, 0, MPI_LONG_LONG, rank, kStop, MPI_COMM_WORLD);
      --live;
    }
  };
  while (live > 0) {
    // Polled with pauses: a blocking probe spins, and rank 0 would take a core from the workers.
    MPI_Status status;
    for (int arrived = 0; !arrived;) {
      MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &arrived, &status);
      if (!arrived) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    int count = 0;
    if (status.MPI_TAG == kFailed) {
      MPI_Get_count(&status, MPI_CHAR, &count);
      std::string message(static_cast<std::size_t>(count), '\0');
      MPI_Recv(message.data(), count, MPI_CHAR, status.MPI_SOURCE, kFailed, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      throw std::runtime_error("rank " + std::to_string(status.MPI_SOURCE) + ": " + message);
    }
    MPI_Get_count(&status, MPI_DOUBLE, &count);
    std::vector<double> message(static_cast<std::size_t>(count));
    MPI_Recv(message.data(), count, MPI_DOUBLE, status.MPI_SOURCE, status.MPI_TAG, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
    if (status.MPI_TAG == kResult) --in_flight[static_cast<std::size_t>(status.MPI_SOURCE)];
    refill(status.MPI_SOURCE);  // before the write, so that the rank's queue stays full meanwhile
    if (status.MPI_TAG == kResult) {  // [cell, replicate, diverged, device, values...]
      CellResult r;
      r.diverged = message[2] != 0;
      r.device = static_cast<int>(message[3]);
      r.values.assign(message.begin() + 4, message.end());
      write({static_cast<std::int64_t>(message[0]), static_cast<std::int64_t>(message[1])}, r);
      ++written;
    }
  }
  return written;
}

int MpiSession::work() {
  long long header[3] = {0, 0, 0};
  MPI_Bcast(header, 3, MPI_LONG_LONG, 0, MPI_COMM_WORLD);
  if (header[0] == 0) return 0;  // rank 0 found nothing to do (and said why)
  const std::string text = receive_text(header[0]), kept_folder = receive_text(header[2]);
  // This rank's GPU: by its rank on the node, so that the ranks of a node spread over its GPUs.
  const int device = header[1] != 0 ? process_cuda_device() : kCpuDevice;
  const SweepSpec spec = parse_sweep(text, "the sweep rank 0 sent", {});
  MPI_Send(nullptr, 0, MPI_DOUBLE, 0, kReady, MPI_COMM_WORLD);
  for (;;) {
    MPI_Status status;
    long long cell[2] = {0, 0};
    MPI_Recv(cell, 2, MPI_LONG_LONG, 0, MPI_ANY_TAG, MPI_COMM_WORLD, &status);
    if (status.MPI_TAG == kStop) return 0;
    try {
      const Config config = cell_config(spec, cell[0], cell[1]);
      const CellResult r = kept_folder.empty()
                               ? run_cell(spec, config, device)
                               : run_cell_keeping(spec, config, device, kept_folder + "/" + kept_cell_name(cell[0], cell[1]));
      std::vector<double> message = {static_cast<double>(cell[0]), static_cast<double>(cell[1]), r.diverged ? 1.0 : 0.0,
                                     static_cast<double>(r.device)};
      message.insert(message.end(), r.values.begin(), r.values.end());
      MPI_Send(message.data(), static_cast<int>(message.size()), MPI_DOUBLE, 0, kResult, MPI_COMM_WORLD);
    } catch (const std::exception& e) {
      const std::string what = e.what();
      MPI_Send(what.data(), static_cast<int>(what.size()), MPI_CHAR, 0, kFailed, MPI_COMM_WORLD);
      return 1;
    }
  }
}

void MpiSession::abort_all(int code) {
  if (initialised_) MPI_Abort(MPI_COMM_WORLD, code);
  std::exit(code);
}

#else  // built without MPI: always a session of one

MpiSession::MpiSession(int&, char**&) {}
MpiSession::~MpiSession() = default;
void MpiSession::start_workers(const std::string&, bool, const std::string&) {}
std::size_t MpiSession::serve(const std::vector<CellWork>&, const std::function<void(const CellWork&, const CellResult&)>&) {
  return 0;
}
int MpiSession::work() { return 0; }
void MpiSession::abort_all(int code) { std::exit(code); }

#endif

}  // namespace lowrank
