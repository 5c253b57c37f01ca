// `engine sweep`: the cells of a sweep (SPEC §10) on a local pool of jobs, into one sweep file;
// `--resume FILE` runs only the cells a killed or interrupted sweep left. Each cell runs on one
// CPU thread (or the GPU) whatever the pool's size, so that its result is the same bits alone
// or beside others. Exit codes as the engine's: 0 done, 1 a failure, 2 bad input, 130/143 stopped.
#include "h5_objects.hpp"
#include "sweep_command.hpp"

#include <CLI/CLI.hpp>
#include <hdf5.h>
#include <malloc.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <deque>
#include <exception>
#include <functional>
#include <filesystem>
#include <mutex>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include "cell_runner.hpp"
#include "mpi_cells.hpp"
#include "cpu_backend.hpp"
#include "cuda_backend.hpp"
#include "file_lock.hpp"
#include "inputs.hpp"
#include "memory_estimate.hpp"
#include "paths.hpp"
#include "presets.hpp"
#include "staged_output.hpp"
#include "stop_signals.hpp"
#include "sweep_file.hpp"

namespace lowrank {
namespace {

namespace fs = std::filesystem;

constexpr int kExitFailed = 1, kExitBadInput = 2;
constexpr std::size_t kMaxConfigBytes = 4 << 20;

struct Finished {
  CellWork work;
  CellResult result;
};

// The pool: `jobs` threads take the pending cells in order and hand their results to the caller,
// who writes them (HDF5 from one thread only). A stop signal lets the cells in flight finish.
class Pool {
 public:
  // On the GPU, worker j takes its own device of the node's (choose_cuda_device).
  Pool(const SweepSpec& spec, std::vector<CellWork> work, int jobs, bool gpu)
      : spec_(spec), work_(std::move(work)), running_(jobs) {
    for (int j = 0; j < jobs; ++j) {
      const int device = gpu ? process_cuda_device(j, jobs) : kCpuDevice;
      threads_.emplace_back([this, device] { run(device); });
    }
  }
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;
  ~Pool() {
    stop_ = true;
    for (auto& t : threads_) t.join();
  }
  // The next finished cell, or nothing once every worker is done.
  std::optional<Finished> next() {
    std::unique_lock<std::mutex> lock(mutex_);
    ready_.wait(lock, [this] { return !done_.empty() || running_ == 0; });
    if (failure_) std::rethrow_exception(failure_);
    if (done_.empty()) return std::nullopt;
    Finished f = std::move(done_.front());
    done_.pop_front();
    return f;
  }

 private:
  void run(int device) {
    for (;;) {
      const std::size_t i = next_++;
      if (i >= work_.size() || stop_ || stop_signal()) break;
      try {
        const CellWork w = work_[i];
        CellResult r = run_cell(spec_, cell_config(spec_, w.cell, w.replicate), device);
        std::lock_guard<std::mutex> lock(mutex_);
        done_.push_back({w, std::move(r)});
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!failure_) failure_ = std::current_exception();
        stop_ = true;
      }
      ready_.notify_all();
    }
    std::lock_guard<std::mutex> lock(mutex_);
    --running_;
    ready_.notify_all();
  }

  const SweepSpec& spec_;
  std::vector<CellWork> work_;
  std::atomic<std::size_t> next_{0};
  std::atomic<bool> stop_{false};
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<Finished> done_;
  std::exception_ptr failure_;
  int running_;  // workers not yet done (set before they start)
  std::vector<std::thread> threads_;
};

// "40 s", "12 min", "1.5 h": a time left, to the precision a progress line wants.
std::string duration_text(double seconds) {
  char text[32];
  if (seconds < 60) std::snprintf(text, sizeof text, "%.0f s", std::max(1.0, seconds));
  else if (seconds < 3600) std::snprintf(text, sizeof text, "%.0f min", seconds / 60);
  else std::snprintf(text, sizeof text, "%.1f h", seconds / 3600);
  return text;
}

// The cells allocate and free the same arrays (megabytes each) thousands of times: kept in the
// heap rather than handed back to the kernel, which zeroes every page again when they return
// (gradient_alignment_scaling, 160 cells: 1.73 -> 1.25 s). The heap grows to one cell's peak per job.
void keep_freed_memory() {
  constexpr int kLargestHeapBlock = 32 << 20;  // glibc's ceiling for M_MMAP_THRESHOLD on 64-bit
  constexpr int kKeptFreeTop = 1 << 30;        // above any cell's peak that the heap serves
  mallopt(M_MMAP_THRESHOLD, kLargestHeapBlock);
  mallopt(M_TRIM_THRESHOLD, kKeptFreeTop);
}

// Refuses, before anything is created or changed, a sweep that cannot fit: its gathered values in
// memory (`files` sweep files open at once: a merge holds every shard's) beside the `cells` this
// process trains at once (on the GPU, those on each of its devices against that device's free
// memory), and with `new_file` the finished file on its folder's disk.
void check_sweep_fits(const SweepSpec& spec, int files, int cells, bool gpu, const std::string& out, bool new_file) {
  const MemoryEstimate& cell = gpu ? spec.cell_memory_gpu : spec.cell_memory_cpu;
  const std::string what = "this sweep's values (" + std::to_string(spec.cells()) + " cells x " +
                           std::to_string(spec.replicates) + " replicates x " + std::to_string(spec.max_epochs) +
                           " epochs)" + (cells > 0 ? " and " + std::to_string(cells) + " cell(s) at once" : "");
  const std::string hint = "shorten the axes, or lower sweep.replicates, sweep.epochs or --jobs";
  check_fits("host", double(files) * spec.value_bytes() + double(cells) * cell.host_bytes, available_host_memory(),
             what, hint);
  if (gpu && cells > 0) {
    std::map<int, int> on_device;  // the cells on each device this process's workers use
    for (int j = 0; j < cells; ++j) ++on_device[process_cuda_device(j, cells)];
    for (const auto& [device, count] : on_device)
      check_fits("GPU", double(count) * cell.device_bytes, cuda_free_memory(device), what, hint);
  }
  if (!new_file) return;
  std::error_code error;
  const fs::space_info space = fs::space(fs::absolute(out).parent_path(), error);
  if (!error && spec.file_bytes() > static_cast<double>(space.available))
    throw ConfigError("--out " + shown(out) + ": the sweep file will need about " + gibibytes(spec.file_bytes()) +
                      " and its folder's disk has " + gibibytes(static_cast<double>(space.available)) + " free; " + hint);
}

// Reads the data files the cells train on (each distinct set once), so that a bad value in one is
// refused before anything is created, as the engine's run does (exit 2), not when its cell runs.
void read_data_files(const SweepSpec& spec) {
  for (std::int64_t cell : spec.data_file_cells) {
    const Config c = cell_config(spec, cell, 0);
    for (const auto& g : c.inputs) make_inputs(c, g);
  }
}

}  // namespace

int sweep_main(int argc, char** argv) {
  // One thread a cell, on every rank: the same bits in a pool or over ranks of any size
  // (OpenBLAS splits a product differently over more threads).
  set_cpu_threads(1);
  keep_freed_memory();
  MpiSession mpi(argc, argv);
  if (mpi.rank() > 0) return mpi.work();  // rank 0 reads the sweep and hands out its cells
  const auto start = std::chrono::steady_clock::now();
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  std::string exp, config_file, out, resume, device = "cpu", jobs_text = "1", shard_text;
  std::vector<std::string> sets, merged;
  bool force = false, quiet = false, merge = false;
  CLI::App app{"engine sweep: the cells of a [sweep] (axes x replicates) on a local pool of jobs, into one sweep file "
               "(README, \"Sweeps\")"};
  auto* exp_option = app.add_option("--exp", exp, "Preset with a [sweep] table");
  auto* config_option = app.add_option("--config", config_file, "TOML file with a [sweep] table");
  exp_option->excludes(config_option);
  app.add_option("--set", sets, "Override a value of the base or the sweep, KEY=VALUE (e.g. sweep.replicates=30)");
  auto* out_option = app.add_option("--out", out, "Sweep file (default: <experiment>-sweep.h5)");
  app.add_flag("--force", force, "Replace the sweep file if it exists");
  app.add_option("--jobs", jobs_text, "Cells run at once, each on one thread (default 1)");
  app.add_option("--device", device, "cpu (default) or cuda (every job on the GPU)")->check(CLI::IsMember({"cpu", "cuda"}));
  auto* resume_option = app.add_option("--resume", resume, "Run the cells an interrupted or killed sweep FILE left");
  for (const char* other : {"--exp", "--config", "--set", "--out", "--force"}) resume_option->excludes(other);
  auto* shard_option = app.add_option("--shard", shard_text,
                                      "Run only share i of N of the cells (i/N, or auto: Slurm's array task); --merge joins the shares");
  shard_option->excludes(resume_option);
  auto* merge_option = app.add_flag("--merge", merge, "Join the shards' files SHARD... into --out (every share of one sweep)");
  app.add_option("shards", merged, "With --merge: the shards' sweep files");
  for (auto* other : {exp_option, config_option, resume_option, shard_option}) merge_option->excludes(other);
  app.add_flag("--quiet", quiet, "No progress lines");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : kExitBadInput;
  }
  std::string command_line = "engine";
  for (int i = 0; i < argc; ++i) command_line += " " + shell_quote(argv[i]);

  install_stop_handlers();
  std::optional<FileLock> lock;
  std::optional<StagedOutput> staged;
  std::optional<SweepFile> file;
  SweepSpec spec;
  Shard shard;
  int jobs = 1;
  const bool gpu = device == "cuda";
  std::vector<std::unique_ptr<FileLock>> shard_locks;
  std::vector<SweepSpec> shard_specs;
  std::vector<std::unique_ptr<SweepFile>> shards;
  try {
    jobs = static_cast<int>(parse_integer("--jobs", jobs_text, 1, kMaxThreads));
    // The cells this process trains at once: under mpirun the other ranks train, with keep_runs one.
    auto cells_at_once = [&](const SweepSpec& s) { return mpi.size() > 1 ? 0 : s.keep_runs ? 1 : jobs; };
    if (gpu && cuda_device_count() == 0) throw ConfigError("--device cuda: no CUDA device is present; use --device cpu");
    if (shard_option->count()) shard = parse_shard(shard_text);
    if (!merged.empty() && !merge) throw ConfigError("files " + merged.front() + "...: only --merge takes shard files");
    if (merge && !sets.empty())
      throw ConfigError("--merge takes no --set (" + sets.front() + "): the shards' own config is the merged sweep's");
    if (merge) {
      if (merged.empty() || !out_option->count())
        throw ConfigError("--merge: give the merged file as --out and every shard's file after it");
      shard_specs.reserve(merged.size());  // the shards' files refer to their specs
      std::set<std::string> given;
      for (const std::string& path : merged) {
        const std::string p = existing_output("--merge", path).string();
        if (!given.insert(std::filesystem::weakly_canonical(p).string()).second)
          throw ConfigError("--merge: " + shown(path) + " is given twice");
        shard_locks.push_back(std::make_unique<FileLock>("--merge", p));  // not a shard still being written
        shard_specs.push_back(read_sweep_spec(p, "--merge"));
        // Every shard's values are read, and the merged file's held: before the first is read.
        if (shard_specs.size() == 1)
          check_sweep_fits(shard_specs.front(), static_cast<int>(merged.size()) + 1, 0, false, out, true);
        if (shard_specs.back().base_text != shard_specs.front().base_text ||
            shard_specs.back().sweep_text != shard_specs.front().sweep_text)
          throw ConfigError("--merge: " + shown(path) + " is a shard of another sweep than " + shown(merged.front()) +
                            " (their config attributes differ)");
        shards.push_back(std::make_unique<SweepFile>(p, shard_specs.back(), true));
      }
      std::vector<bool> seen(static_cast<std::size_t>(shards.front()->shard().count), false);
      for (std::size_t i = 0; i < shards.size(); ++i) {
        const Shard sh = shards[i]->shard();
        if (sh.count != shards.front()->shard().count)
          throw ConfigError("--merge: " + shown(merged[i]) + " is shard " + std::to_string(sh.index) + "/" +
                            std::to_string(sh.count) + ", the first " + std::to_string(shards.front()->shard().count) + " shards");
        if (seen[static_cast<std::size_t>(sh.index)])
          throw ConfigError("--merge: shard " + std::to_string(sh.index) + " is given twice (" + shown(merged[i]) + ")");
        seen[static_cast<std::size_t>(sh.index)] = true;
      }
      std::string missing;
      for (std::size_t i = 0; i < seen.size(); ++i)
        if (!seen[i]) missing += (missing.empty() ? "" : ", ") + std::to_string(i);
      if (!missing.empty()) throw ConfigError("--merge: shard(s) " + missing + " of " + std::to_string(seen.size()) + " missing");
      spec = shard_specs.front();
      out = new_output("--out", out, force).string();
      lock.emplace("--out", out);
      new_output("--out", out, force);
      staged.emplace("--out", out);
    } else if (resume_option->count()) {
      out = existing_output("--resume", resume).string();
      lock.emplace("--resume", out);
      spec = read_sweep_spec(out, "--resume");
      check_sweep_fits(spec, 1, cells_at_once(spec), gpu, out, false);
    } else {
      if (!exp_option->count() && !config_option->count())
        throw ConfigError("nothing to sweep: give --exp NAME or --config FILE (with a [sweep] table), or --resume FILE");
      const std::string text = exp_option->count() ? read_preset(exp) : read_regular_file("--config", config_file, kMaxConfigBytes);
      spec = parse_sweep(text, exp_option->count() ? "preset " + exp : shown(config_file), sets);
      for (const std::string& w : spec.warnings) std::fprintf(stderr, "engine sweep: warning: %s\n", w.c_str());
      out = new_output("--out", out_option->count() ? out : spec.experiment + "-sweep.h5", force).string();
      check_sweep_fits(spec, 1, cells_at_once(spec), gpu, out, true);
      read_data_files(spec);
      lock.emplace("--out", out);
      new_output("--out", out, force);  // again under the lock
      staged.emplace("--out", out);
    }
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "engine sweep: error: %s\n", e.what());
    return kExitBadInput;
  } catch (const Stopped& e) {
    std::fprintf(stderr, "engine sweep: %s: nothing was written\n", e.what());
    return 128 + stop_signal();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "engine sweep: failed: %s\n", e.what());
    return kExitFailed;
  }

  try {
    // keep_runs: each cell's engine file in <sweep>-cells/ beside the sweep file.
    const fs::path out_path(out), cells_folder = kept_cells_folder(out_path);
    std::function<std::string(std::int64_t, std::int64_t)> cell_file;
    if (spec.keep_runs && merge) {  // the shards' cell files, seen from the merged file's folder
      cell_file = [&](std::int64_t cell, std::int64_t r) {
        for (std::size_t i = 0; i < shards.size(); ++i)
          if (shards[i]->shard().holds(cell, r, spec.replicates)) {
            return fs::relative(fs::absolute(kept_cells_folder(merged[i])) / kept_cell_name(cell, r),
                                fs::absolute(out_path).parent_path()).string();
          }
        return std::string();
      };
    } else if (spec.keep_runs) {
      fs::create_directories(cells_folder);
      cell_file = [&](std::int64_t cell, std::int64_t r) {  // relative to the sweep file's folder
        return (cells_folder.filename() / kept_cell_name(cell, r)).string();
      };
    }
    if (staged) {
      file.emplace(staged->temporary().string(), spec, LOWRANK_VERSION, command_line,
                   merge ? "merged" : gpu ? "cuda" : "cpu", shard, cell_file);
      if (merge) {  // every shard's finished cells, in the order one process writes them
        std::size_t pending = 0;
        for (std::int64_t cell = 0; cell < spec.cells(); ++cell)
          for (std::int64_t r = 0; r < spec.replicates; ++r)
            for (const auto& from : shards)
              if (from->shard().holds(cell, r, spec.replicates)) {
                if (from->statuses()[static_cast<std::size_t>(cell * spec.replicates + r)] == CellStatus::pending) ++pending;
                else file->write(cell, r, from->result(cell, r));
              }
        file->write_derived();
        file->set_status(pending ? "interrupted" : "complete");
        staged->commit(force);
        if (!quiet)
          std::printf("sweep merged: %zu shards into %s%s\n", shards.size(), out.c_str(),
                      pending ? (", " + std::to_string(pending) + " cells still pending: engine sweep --resume " + out +
                                 " runs them").c_str()
                              : "");
        return 0;
      }
      staged->commit(force);
    } else {
      file.emplace(out, spec);
    }
    std::vector<CellWork> work;
    for (std::int64_t cell = 0; cell < spec.cells(); ++cell)
      for (std::int64_t r = 0; r < spec.replicates; ++r)
        if (file->statuses()[static_cast<std::size_t>(cell * spec.replicates + r)] == CellStatus::pending &&
            file->shard().holds(cell, r, spec.replicates))
          work.push_back({cell, r});
    std::size_t total = 0;  // this process's share
    for (std::int64_t i = 0; i < spec.cells() * spec.replicates; ++i)
      total += file->shard().holds(i / spec.replicates, i % spec.replicates, spec.replicates);
    const std::size_t todo = work.size();
    const bool ranks = mpi.size() > 1;
    if (!quiet)
      std::fprintf(stderr, "engine sweep: %s, %lld cells x %lld replicates (%zu to run) on %s, %d %s, writing %s\n",
                   spec.experiment.c_str(), static_cast<long long>(spec.cells()), static_cast<long long>(spec.replicates),
                   todo, gpu ? "cuda" : "cpu", ranks ? mpi.size() - 1 : jobs,
                   ranks ? "MPI ranks besides rank 0" : jobs > 1 ? "jobs" : "job", out.c_str());
    std::size_t written = 0;
    auto last = std::chrono::steady_clock::now();
    auto write = [&](const CellWork& w, const CellResult& result) {
      {
        const std::lock_guard<std::recursive_mutex> hdf5(hdf5_mutex());  // the pool's cells may be reading data files
        file->write(w.cell, w.replicate, result);
      }
      ++written;
      const auto now = std::chrono::steady_clock::now();
      if (!quiet && (now - last > std::chrono::seconds(1) || written == todo)) {
        const double s = std::chrono::duration<double>(now - start).count(), rate = static_cast<double>(written) / s;
        std::fprintf(stderr, "engine sweep: %zu/%zu cells, %.1f cells/s%s\n", total - todo + written, total, rate,
                     written < todo ? (", about " + duration_text(static_cast<double>(todo - written) / rate) + " left").c_str()
                                    : "");
        last = now;
      }
    };
    if (ranks) {  // with keep_runs, each rank writes its cells' files (a process of its own, its own HDF5)
      const std::string kept = spec.keep_runs ? fs::absolute(cells_folder).string() : "";
      mpi.start_workers(spec.base_text + "\n" + spec.sweep_text, gpu, kept);
      mpi.serve(work, write);
    } else if (spec.keep_runs) {  // the engine's driver writes HDF5 itself: one cell at a time, on this thread
      for (const CellWork& w : work) {
        if (stop_signal()) break;
        const int on = gpu ? process_cuda_device() : kCpuDevice;
        write(w, run_cell_keeping(spec, cell_config(spec, w.cell, w.replicate), on,
                                  (out_path.parent_path() / cell_file(w.cell, w.replicate)).string()));
      }
    } else {
      Pool pool(spec, std::move(work), jobs, gpu);
      while (auto finished = pool.next()) write(finished->work, finished->result);
    }
    const bool stopped = written < todo;
    file->write_derived();
    file->set_status(stopped ? "interrupted" : "complete");
    if (!quiet)
      std::printf("sweep %s: %zu of %zu cells in %s, %.2f s\n", stopped ? "interrupted" : "complete",
                  total - todo + written, total, out.c_str(),
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    return stopped ? 128 + stop_signal() : 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "engine sweep: failed: %s\n", e.what());
    try {
      if (file) file->set_status("failed");
    } catch (...) {
    }
    if (mpi.size() > 1) mpi.abort_all(kExitFailed);  // ranks may wait for a cell
    return kExitFailed;
  }
}

}  // namespace lowrank
