// engine: trains the runs of a preset or configuration and writes the HDF5 file of SPEC §6.
// Exit codes: 0 every run complete; 1 a failure while running (the file says "failed");
// 2 bad input (nothing created or touched); 3 a run diverged (the others completed);
// 130 / 143 stopped by SIGINT / SIGTERM after the epoch in flight (the file says "interrupted").
#include <CLI/CLI.hpp>
#include <hdf5.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <optional>

#include "config.hpp"
#include "cpu_backend.hpp"
#include "cuda_backend.hpp"
#include "driver.hpp"
#include "file_lock.hpp"
#include "h5_writer.hpp"
#include "inputs.hpp"
#include "memory_estimate.hpp"
#include "paths.hpp"
#include "presets.hpp"
#include "progress.hpp"
#include "resume.hpp"
#include "staged_output.hpp"
#include "stop_signals.hpp"
#include "sweep_command.hpp"

namespace fs = std::filesystem;
using namespace lowrank;

namespace {

constexpr int kExitFailed = 1, kExitBadInput = 2, kExitDiverged = 3;
constexpr std::uintmax_t kLowDiskBytes = 64ull << 20;  // below this a failed write is put down to a full disk
constexpr std::size_t kMaxConfigBytes = 4 << 20;       // a configuration file is a few KiB

struct Options {
  std::string exp, config_file, out, device = "auto", precision, resume;
  std::vector<std::string> sets, cells;
  std::vector<std::string> cells_texts;  // each --cells as given
  // Integers come as text (given: not nullopt, even when empty) and are parsed by parse_integer:
  // out of range is refused, not clamped.
  std::optional<std::string> seed_text, epochs_text, threads_text, checkpoint_text;
  std::optional<std::int64_t> seed, epochs;
  std::int64_t checkpoint_every = 10;
  int threads = 0;
  bool force = false, list = false, quiet = false;
  // Given, even as "" (refused then, not taken as absent).
  bool exp_given = false, config_given = false, out_given = false, resume_given = false;
};

// The integer options, from their text; throws ConfigError.
void parse_numbers(Options& o) {
  constexpr std::int64_t kInt64Max = std::numeric_limits<std::int64_t>::max();
  if (o.seed_text) o.seed = parse_integer("--seed", *o.seed_text, 0, kInt64Max);
  if (o.epochs_text) o.epochs = parse_integer("--epochs", *o.epochs_text, 0, kMaxEpochs);
  if (o.threads_text) o.threads = static_cast<int>(parse_integer("--threads", *o.threads_text, 1, kMaxThreads));
  if (o.checkpoint_text) o.checkpoint_every = parse_integer("--checkpoint-every", *o.checkpoint_text, 0, kMaxEpochs);
  for (const std::string& text : o.cells_texts)
    for (std::size_t start = 0;;) {
      const std::size_t comma = std::min(text.find(',', start), text.size());
      o.cells.push_back(text.substr(start, comma - start));
      if (o.cells.back().empty())
        throw ConfigError("--cells '" + shown(text) + "': an empty cell name; give the names separated by commas, e.g. sig1,relu3");
      if (comma == text.size()) break;
      start = comma + 1;
    }
}

// Reads the configuration the options name and applies every override; throws ConfigError.
Config resolve_config(const Options& o) {
  std::string text, origin;
  if (o.exp_given) {
    text = read_preset(o.exp);
    origin = "preset " + o.exp;
  } else {
    text = read_regular_file("--config", o.config_file, kMaxConfigBytes);
    origin = shown(o.config_file);
  }
  Config c = parse_config(text, origin, o.sets);
  if (o.seed) c.seed = static_cast<std::uint64_t>(*o.seed);
  if (!o.precision.empty()) c.precision = o.precision == "float64" ? Precision::float64 : Precision::float32;
  if (o.epochs) set_epochs(c, *o.epochs);
  if (!o.cells.empty()) select_cells(c, o.cells);
  return c;
}

using Clock = std::chrono::steady_clock;

// Seconds since `start`, and `start` moved to now.
double lap(Clock::time_point& start) {
  const Clock::time_point now = Clock::now();
  const double seconds = std::chrono::duration<double>(now - start).count();
  start = now;
  return seconds;
}

// The summary's last line: the process's wall time and where it went.
void print_times(double total, const std::vector<std::pair<const char*, double>>& parts) {
  std::printf("time: %.2f s:", total);
  double listed = 0;
  for (const auto& [name, seconds] : parts) {
    std::printf(" %s %.2f,", name, seconds);
    listed += seconds;
  }
  std::printf(" other %.2f\n", std::max(total - listed, 0.0));
}

// When the process started, and how long the memory check before the run took (on a GPU, the
// first CUDA call, which starts the context).
struct Started {
  Clock::time_point process;
  double resume_plan = 0;  // --resume: reading the file's state, drawing and checking its inputs
  double memory_check = 0;
};

// Trains and writes o.out: continuing it as `resume` says, or set up as `staged` and then renamed
// to its name (over an old file with --force).
template <typename T>
int run(const Config& config, const Options& o, const std::string& command_line, const ResumePlan* resume,
        StagedOutput* staged, Started started) {
  set_cpu_threads(o.threads);
  const bool gpu = o.device == "cuda";
  Clock::time_point start = Clock::now();
  std::unique_ptr<Backend<T>> backend = gpu ? make_cuda_backend<T>(process_cuda_device()) : make_cpu_backend<T>();
  const double backend_seconds = lap(start);
  const bool terminal = ::isatty(::fileno(stderr));
  const std::string where =
      gpu ? backend->device() : backend->device() + " (" + std::to_string(cpu_threads()) + " threads)";
  if (!o.quiet)
    std::fprintf(stderr, "lowrank-engine %s: %s on %s, %s, writing %s\n", LOWRANK_VERSION, config.experiment.c_str(),
                 where.c_str(), to_string(config.precision), o.out.c_str());

  if (resume && resume->device != backend->device())
    std::fprintf(stderr,
                 "engine: warning: %s was written on %s and continues on %s: its epochs from the checkpoint on are "
                 "%s's, not bit for bit those the first device would have given (the file's 'resumed' attribute "
                 "says so)\n",
                 o.out.c_str(), resume->device.c_str(), backend->device().c_str(), backend->device().c_str());

  lap(start);
  std::vector<Inputs> drawn;  // a resumed file's were drawn (and checked) by draw_resume_inputs
  if (!resume)
    for (const auto& spec : config.inputs) drawn.push_back(make_inputs(config, spec));
  const std::vector<Inputs>& inputs = resume ? resume->inputs : drawn;
  const double inputs_seconds = lap(start);

  if (stop_signal()) {  // stopped while the backend started or the inputs were drawn
    std::fprintf(stderr, "engine: stopped by %s before %s was %s\n", stop_signal() == SIGINT ? "SIGINT" : "SIGTERM",
                 o.out.c_str(), resume ? "continued: it is as it was" : "set up: nothing was written");
    return 128 + stop_signal();
  }
  std::unique_ptr<H5Writer> writer =
      resume ? std::make_unique<H5Writer>(o.out, *resume, "on " + backend->device() + ": " + command_line)
             : std::make_unique<H5Writer>(staged->temporary().string(),
                                          FileHeader{LOWRANK_VERSION, command_line, backend->device(),
                                                     o.checkpoint_every},
                                          config, inputs);
  if (staged) staged->commit(o.force);  // set up: only now does it take the name (and replace the old file)
  const double file_seconds = lap(start);
  Progress progress(stderr, !o.quiet, terminal);
  Training training;
  try {
    TrainOptions options;
    options.checkpoint_every = resume ? resume->checkpoint_every : o.checkpoint_every;
    options.resume = resume;
    training = train_all(*backend, config, inputs, *writer, progress, options);
  } catch (...) {
    // The status first; and a write that fails here (a full disk) must not replace the error
    // that stopped the run, which is the one rethrown.
    try {
      writer->set_status("failed");
      writer->set_peak_memory(peak_host_memory(), backend->peak_device_bytes());
    } catch (...) {
    }
    throw;
  }
  const std::vector<RunSummary>& summaries = training.runs;
  auto any = [&](const char* status) {
    return std::any_of(summaries.begin(), summaries.end(), [&](const RunSummary& s) { return s.status == status; });
  };
  const bool interrupted = any("interrupted"), diverged = any("diverged");
  const double peak_host = peak_host_memory(), peak_device = backend->peak_device_bytes();
  writer->set_peak_memory(peak_host, peak_device);
  writer->set_status(interrupted ? "interrupted" : diverged ? "diverged" : "complete");
  lap(start);
  writer.reset();  // closes the file
  const double close_seconds = lap(start);
  std::fputs(summary_table(summaries, config).c_str(), stdout);
  std::printf("peak memory: host %s", gibibytes(peak_host).c_str());
  if (peak_device > 0) std::printf(", device %s", gibibytes(peak_device).c_str());
  std::printf("\n");
  const TrainTimes& t = training.seconds;
  std::vector<std::pair<const char*, double>> parts;
  if (resume) parts.emplace_back("resume plan", started.resume_plan);
  parts.insert(parts.end(), {{"memory check", started.memory_check},
                             {"backend start", backend_seconds},
                             {"inputs", inputs_seconds},
                             {"file set-up", file_seconds},
                             {"upload", t.upload},
                             {"epochs", t.epochs},
                             {"pair angles", t.pair_angles},
                             {"refits", t.refits},
                             {"checkpoints", t.checkpoints},
                             {"writes waited", t.file_wait},
                             {"closing", close_seconds}});
  print_times(lap(started.process), parts);
  if (interrupted) {
    std::fprintf(stderr, "engine: stopped by %s after the epoch in flight; %s keeps every finished epoch\n",
                 stop_signal() == SIGINT ? "SIGINT" : "SIGTERM", o.out.c_str());
    return 128 + stop_signal();
  }
  return diverged ? kExitDiverged : 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "sweep") return sweep_main(argc - 1, argv + 1);
  Started started{Clock::now()};
  // HDF5's own error stacks stay quiet: every failing call is reported by name instead.
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  Options o;
  CLI::App app{"lowrank-engine: trains two-layer networks by full-batch gradient descent and records the "
               "gradient's spectrum and alignment every epoch, as HDF5 (see README.md)."};
  app.set_version_flag("--version", std::string("lowrank-engine ") + LOWRANK_VERSION);
  auto* exp = app.add_option("--exp", o.exp, "Preset experiment to run (see --list)");
  auto* cfg = app.add_option("--config", o.config_file, "TOML configuration file to run");
  exp->excludes(cfg);
  app.add_option("--set", o.sets, "Override a configuration value, KEY=VALUE (e.g. data.n=500, runs.ntk.epochs=10)");
  auto* out_option = app.add_option("--out", o.out, "Output HDF5 file (default: <experiment>.h5)");
  app.add_flag("--force", o.force, "Replace the output file if it exists");
  app.add_option("--device", o.device, "Backend: auto (the GPU when there is one), cpu or cuda")->check(CLI::IsMember({"auto", "cpu", "cuda"}));
  app.add_option("--precision", o.precision, "float32 (default, as the seed) or float64")
      ->check(CLI::IsMember({"float32", "float64"}));
  // Each integer option stores its text, read by parse_numbers once CLI11 is done.
  auto text_of = [](std::optional<std::string>& text) {
    return [&text](const std::string& value) { text = value; };
  };
  app.add_option_function<std::string>("--seed", text_of(o.seed_text), "Seed of every random stream (0 to 2^63-1; default 42)");
  app.add_option_function<std::string>("--epochs", text_of(o.epochs_text), "Epochs of every run (0 to 1000000000; 0: the metrics at W0, no step)");
  // Each as text, split by parse_numbers: CLI11's delimiter would drop empty names and take the next
  // word instead. Repeated, the lists join.
  app.add_option("--cells", o.cells_texts, "Train only these cells of the preset (comma-separated)")
      ->expected(1)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  app.add_option_function<std::string>("--threads", text_of(o.threads_text), "CPU threads (default: all cores)");
  app.add_option_function<std::string>("--checkpoint-every", text_of(o.checkpoint_text),
                 "Epochs between the checkpoints --resume continues from (default 10; 0: none, and no --resume)");
  auto* resume_option = app.add_option("--resume", o.resume,
                                "Continue every unfinished run of an interrupted or killed FILE from its last checkpoint");
  for (const char* other : {"--exp", "--config", "--set", "--out", "--force", "--epochs", "--cells", "--seed",
                            "--precision", "--checkpoint-every"})
    resume_option->excludes(other);
  app.add_flag("--list", o.list, "List the presets and exit");
  app.add_flag("--quiet", o.quiet, "No progress lines");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : kExitBadInput;
  }
  o.exp_given = exp->count() > 0;
  o.config_given = cfg->count() > 0;
  o.out_given = out_option->count() > 0;
  o.resume_given = resume_option->count() > 0;

  if (o.list) {
    for (const auto& p : list_presets())
      std::printf("%-27s %s%s\n", p.name.c_str(), p.sweep ? "[engine sweep] " : "", p.description.c_str());
    return 0;
  }
  std::string command_line;
  for (int i = 0; i < argc; ++i) command_line += (i ? " " : "") + shell_quote(argv[i]);

  // Ctrl-C or SIGTERM from here on is a flag the run checks (before the file is set up, and after
  // each epoch), so that the lock and a staged file are cleaned up on the way out.
  install_stop_handlers();
  // Destroyed last, in this order: a staged file not committed is removed, then the lock released.
  std::optional<FileLock> lock;
  std::optional<StagedOutput> staged;
  Config config;
  std::optional<ResumePlan> plan;
  try {
    parse_numbers(o);
    if (o.resume_given) {
      // The file is locked before it is read: a live writer's file is refused, never examined or touched.
      o.out = existing_output("--resume", o.resume).string();
      lock.emplace("--resume", o.out);
      Clock::time_point plan_start = Clock::now();
      plan = plan_resume(o.out);
      started.resume_plan = lap(plan_start);
      if (plan->status == "complete") {
        std::fprintf(stderr, "engine: %s is complete; nothing to resume\n", o.resume.c_str());
        return 0;
      }
      config = plan->config;
    } else if (!o.exp_given && !o.config_given) {
      throw ConfigError("nothing to run: give --exp NAME, --config FILE or --resume FILE");
    } else {
      config = resolve_config(o);
      for (const ConfigWarning& w : config_warnings(config)) std::fprintf(stderr, "engine: warning: %s\n", w.text.c_str());
      o.out = new_output("--out", o.out_given ? o.out : config.experiment + ".h5", o.force).string();
    }
    if (o.device == "cuda" && cuda_device_count() == 0)
      throw ConfigError("--device cuda: no CUDA device is present; use --device cpu (or auto)");
    if (o.device == "auto") o.device = cuda_device_count() > 0 ? "cuda" : "cpu";
    // Sizes that cannot fit are refused before anything is allocated or drawn.
    const bool gpu = o.device == "cuda";
    Clock::time_point check_start = Clock::now();
    const MemoryEstimate need = estimate_memory(config, gpu, plan.has_value());
    check_fits("host", need.host_bytes, available_host_memory());
    if (gpu) check_fits("GPU", need.device_bytes, cuda_free_memory(process_cuda_device()));  // the first CUDA call: starts the context
    if (const double snapshots = plan ? 0 : snapshot_file_bytes(config); snapshots > 0) {  // a resume's are mostly written
      std::error_code error;
      const fs::space_info space = fs::space(fs::absolute(o.out).parent_path(), error);
      if (!error && snapshots > static_cast<double>(space.available))
        throw ConfigError("output.snapshot_every = " + std::to_string(config.snapshot_every) +
                          ": the snapshots will need about " + gibibytes(snapshots) + " in '" + shown(o.out) + "'" +
                          " and its folder's disk has " + gibibytes(static_cast<double>(space.available)) +
                          " free; raise output.snapshot_every or lower output.snapshot_rank");
    }
    started.memory_check = lap(check_start);
    if (plan) {
      draw_resume_inputs(*plan, o.out);
      clear_writer_flags(o.out);  // the first change to the file, every check passed
      started.resume_plan += lap(check_start);
    } else {
      lock.emplace("--out", o.out);
      new_output("--out", o.out, o.force);  // again under the lock: another engine may have made it meanwhile
      staged.emplace("--out", o.out);
    }
  } catch (const ConfigError& e) {
    std::fprintf(stderr, "engine: error: %s\n", e.what());
    return kExitBadInput;
  } catch (const std::exception& e) {  // a library's failure (the GPU busy, memory): nothing written yet
    std::fprintf(stderr, "engine: failed: %s\n", e.what());
    return kExitFailed;
  }

  try {
    const ResumePlan* resume = plan ? &*plan : nullptr;
    StagedOutput* new_file = staged ? &*staged : nullptr;
    return config.precision == Precision::float32 ? run<float>(config, o, command_line, resume, new_file, started)
                                                  : run<double>(config, o, command_line, resume, new_file, started);
  } catch (const ConfigError& e) {  // bad values in the data's files, found as they are read: nothing written yet
    std::fprintf(stderr, "engine: error: %s\n", e.what());
    return kExitBadInput;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "engine: failed: %s\n", e.what());
    // A write that failed on a full disk: say so; every epoch flushed before stays in the file.
    std::error_code ec;
    const fs::path out(o.out);
    const auto space = fs::space(out.has_parent_path() ? out.parent_path() : fs::path("."), ec);
    if (!ec && space.available < kLowDiskBytes)
      std::fprintf(stderr, "engine: the disk holding %s has %ju bytes free: it is full; %s\n", o.out.c_str(),
                   static_cast<std::uintmax_t>(space.available),
                   staged && !staged->committed()
                       ? "the file was not set up, and nothing is left of it (an older file of that name is as it was)"
                       : "the file keeps every epoch written");
    return kExitFailed;
  }
}
