#include "driver.hpp"

#include "epoch.hpp"
#include "metrics.hpp"
#include "spectral.hpp"
#include "stop_signals.hpp"
#include "write_queue.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <numeric>

#include <nvtx3/nvtx3.hpp>

namespace lowrank {
namespace {

using Clock = std::chrono::steady_clock;

template <typename T>
RunProgress progress_of(const RunState<T>& s) {
  const RunSummary& summary = s.summary;
  const std::string state = summary.status == "running" ? "" : summary.status;
  return {summary.name, summary.epochs_done, s.spec->epochs, s.first_epoch, summary.last.train_mse, s.seconds, state};
}

}  // namespace

// The state of a run as a checkpoint holds it: every tensor of `kept` (checkpointed_tensors), in float64.
template <typename T>
CheckpointedValues save_state(Backend<T>& be, RunState<T>& s, const std::vector<RunTensor>& kept) {
  CheckpointedValues values;
  for (RunTensor t : kept) values.push_back(save_tensor(be, s, t));
  return values;
}

template <typename T>
void restore_state(Backend<T>& be, RunState<T>& s, const std::vector<RunTensor>& kept, const CheckpointedValues& values) {
  for (std::size_t i = 0; i < kept.size(); ++i) restore_tensor(be, s, kept[i], values.at(i));
}

// The refit readout of the run's weights (on the host, in float64), with torch.linalg.pinv's cut:
// max(n, k) · ε of the working precision.
template <typename T>
spectral::Refit refit_of(Backend<T>& be, RunState<T>& s) {
  const DeviceInputs<T>& in = *s.data;
  const Buffer<T>& W = s[RunTensor::W];
  const std::vector<double> x = download_double(be, in.X), y = download_double(be, in.y),
                            xt = download_double(be, in.X_test), yt = download_double(be, in.y_test),
                            w = download_double(be, W);
  const double rcond = static_cast<double>(std::max(in.X.rows, W.rows)) * std::numeric_limits<T>::epsilon();
  return spectral::refit_readout(x.data(), y.data(), in.X.rows, xt.data(), yt.data(), in.X_test.rows, w.data(), W.rows,
                                 W.cols, s.spec->gamma, s.spec->activation, rcond);
}

// Seconds since `start`.
double since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

template <typename T>
Training train_all(Backend<T>& be, const Config& config, const std::vector<Inputs>& inputs, Recorder& writer,
                   Progress& progress, const TrainOptions& options) {
  const std::int64_t checkpoint_every = options.checkpoint_every;
  const ResumePlan* resume = options.resume;
  Training training;
  TrainTimes& seconds = training.seconds;
  auto start = Clock::now();
  std::vector<DeviceInputs<T>> data;
  data.reserve(inputs.size());  // runs point into it
  for (const auto& in : inputs) data.push_back(load_inputs(be, in, config, options.scope));
  const std::vector<RunTensor> kept = checkpointed_tensors(config);
  seconds.upload = since(start);
  auto inputs_index = [&](const RunSpec& r) {
    for (std::size_t i = 0; i < inputs.size(); ++i)
      if (inputs[i].name == r.inputs) return i;
    throw ConfigError("run '" + r.name + "' names unknown inputs '" + r.inputs + "'");
  };

  // Runs that measure at W0 alone (no step) share X W0ᵀ within an inputs group: formed once, the
  // same product (the same bits) as each run's forward pass.
  auto measures_w0 = [&](const RunSpec& r) { return r.epochs == 0 || !options.scope.leaving(); };
  std::vector<int> measuring(inputs.size(), 0);
  for (const RunSpec& r : config.runs) measuring[inputs_index(r)] += measures_w0(r) ? 1 : 0;
  std::vector<Buffer<T>> preactivations(inputs.size());

  std::vector<RunSummary>& summaries = training.runs;
  summaries.resize(config.runs.size());
  WriteQueue files;  // the writer is used from the queue's thread alone until it is drained
  const auto groups = side_by_side_groups(config);
  for (std::size_t group_index = 0; group_index < groups.size(); ++group_index) {
    const auto& group = groups[group_index];
    std::vector<RunState<T>> states;
    for (std::size_t i : group) {
      const std::size_t g = inputs_index(config.runs[i]);
      // epochs = 0: one epoch of what is measured at W0, no step (SPEC §6).
      const EpochScope scope =
          config.runs[i].epochs > 0 ? options.scope : EpochScope{std::min(options.scope.needs, Needs::decomposition)};
      RunState<T>& s = states.emplace_back(start_run(be, config, config.runs[i], data[g], inputs[g], scope));
      if (measures_w0(config.runs[i]) && measuring[g] > 1 && !resume) {
        Buffer<T>& Z0 = preactivations[g];
        Buffer<T>& Z = s[RunTensor::Z];
        if (Z0.size() == 0) {
          Z0 = be.zeros(Z.rows, Z.cols);
          be.gemm_nt(data[g].X, s[RunTensor::W], Z0);
        }
        be.copy(Z0, Z);
        s.preactivations_ready = true;
      }
    }
    std::int64_t first_epoch = 0;
    int slot = 0;  // the checkpoint slot written next
    if (resume) {
      const ResumePlan::Group& saved = resume->groups.at(group_index);
      first_epoch = saved.epoch;
      slot = saved.slot < 0 ? 0 : 1 - saved.slot;
      for (std::size_t j = 0; j < states.size(); ++j) {
        RunState<T>& s = states[j];
        // A finished run's state too: the checkpoints written from here on keep it, as they would have.
        if (first_epoch > 0) restore_state(be, s, kept, saved.state.at(j));
        if (resume->finished(group[j], group_index)) {
          const ResumePlan::Run& saved_run = resume->runs[group[j]];
          s.stopped = true;
          s.summary.status = saved_run.status;
          s.summary.epochs_done = std::min(saved_run.rows, s.spec->epochs);
          s.summary.last = saved_run.last;
          s.summary.refit_test_mse = saved_run.refit_test_mse;
          s.seconds = saved_run.seconds;
          if (saved_run.seconds > 0) s.summary.epochs_per_second = static_cast<double>(saved_run.rows) / saved_run.seconds;
        } else if (first_epoch > 0) {
          s.epoch = s.first_epoch = s.summary.epochs_done = first_epoch;
        }
      }
    }
    std::vector<std::size_t> pairs;  // the pairs inside this group (their angles are a file's, not a sweep's)
    for (std::size_t p = 0; options.file_work && p < config.pairs.size(); ++p)
      if (std::find_if(group.begin(), group.end(), [&](std::size_t i) { return config.runs[i].name == config.pairs[p].a; }) !=
          group.end())
        pairs.push_back(p);
    auto state_of = [&](const std::string& name) -> RunState<T>& {
      for (auto& s : states)
        if (s.spec->name == name) return s;
      throw ConfigError("unknown run '" + name + "'");
    };

    auto report = [&](bool final) {
      std::vector<RunProgress> lines;
      for (const auto& s : states) lines.push_back(progress_of(s));
      progress.update(lines, final);
    };

    for (std::int64_t t = first_epoch;; ++t) {
      bool any = false;
      for (std::size_t j = 0; j < states.size(); ++j) {
        RunState<T>& s = states[j];
        if (s.stopped) continue;
        any = true;
        EpochRecord rec;
        nvtx3::scoped_range epoch_range(s.spec->name + " epoch " + std::to_string(t));
        const bool snapshot = options.file_work && config.snapshot_every > 0 && t % config.snapshot_every == 0;
        const bool heavy = options.file_work && t % config.heavy_every == 0;
        const bool ok = run_epoch(be, s, {heavy, snapshot ? config.snapshot_rank : 0}, rec);
        const std::size_t run_index = group[j];
        if (!ok) {
          s.stopped = true;
          s.summary.status = "diverged";
          files.push([&writer, run_index, t] { writer.set_run_status(run_index, "diverged", t); });
          continue;
        }
        s.seconds += rec.epoch_seconds;
        seconds.epochs += rec.epoch_seconds;
        s.epoch = t + 1;
        s.summary.epochs_done = std::min(s.epoch, s.spec->epochs);
        if (!rec.snapshot.empty())  // moved out first: the summary's copy of the record holds no arrays
          files.push([&writer, run_index, snap = std::move(rec.snapshot)] { writer.append_snapshot(run_index, snap); });
        rec.snapshot = {};
        s.summary.last = rec;
        s.summary.last.singular_values.clear();
        s.summary.last.top_right_vector.clear();
        s.summary.epochs_per_second = static_cast<double>(s.epoch - s.first_epoch) / s.seconds;
        files.push([&writer, run_index, t, record = std::move(rec)] {
          nvtx3::scoped_range range("write");
          writer.append_epoch(run_index, t, record);
        });
        if (s.epoch == s.spec->rows()) {
          s.stopped = true;
          s.summary.status = "complete";
          if (options.file_work) {
            if (config.snapshot_every > 0 && s.spec->epochs > 0)  // W_E, after the last step
              files.push([&writer, run_index, snap = snapshot_now(be, s, config.snapshot_rank)] {
                writer.append_snapshot(run_index, snap);
              });
            start = Clock::now();
            spectral::Refit refit = refit_of(be, s);
            seconds.refits += since(start);
            s.summary.refit_test_mse = refit.test_mse;
            files.push([&writer, run_index, refit = std::move(refit)] {
              writer.set_refit(run_index, refit.test_mse, refit.a);
            });
          }
          files.push([&writer, run_index] { writer.set_run_status(run_index, "complete"); });
        }
      }
      if (!any) break;
      // Pairs whose both runs reached W_{t+1} this epoch.
      for (std::size_t p : pairs) {
        RunState<T>& A = state_of(config.pairs[p].a);
        RunState<T>& B = state_of(config.pairs[p].b);
        if (A.epoch == t + 1 && B.epoch == t + 1) {
          nvtx3::scoped_range range("pair angles");
          start = Clock::now();
          // Taken at W_(t+1): none where a run measures W0 alone.
          const double angle = A.scope.leaving() && B.scope.leaving()
                                   ? be.mean_principal_angle_deg(A[RunTensor::W], B[RunTensor::W])
                                   : std::numeric_limits<double>::quiet_NaN();
          seconds.pair_angles += since(start);
          files.push([&writer, p, t, angle] { writer.append_pair(p, t, angle); });
        }
      }
      if (checkpoint_every > 0 && (t + 1) % checkpoint_every == 0) {
        start = Clock::now();
        std::vector<CheckpointedValues> state;
        for (RunState<T>& s : states) state.push_back(save_state(be, s, kept));
        seconds.checkpoints += since(start);
        files.push([&writer, group_index, slot, t, state = std::move(state)] {
          writer.write_checkpoint(group_index, slot, t + 1, state);
        });
        slot = 1 - slot;
      }
      report(false);
      if (options.stops_on_signal && stop_signal()) break;  // every run of the group has finished epoch t
    }
    report(true);
    progress.finish_block();
    for (std::size_t j = 0; j < states.size(); ++j) {
      if (!states[j].stopped) {
        states[j].summary.status = "interrupted";
        files.push([&writer, run = group[j]] { writer.set_run_status(run, "interrupted"); });
      }
      summaries[group[j]] = states[j].summary;
    }
    if (options.stops_on_signal && stop_signal()) {  // the runs of later groups never start
      for (std::size_t i = 0; i < summaries.size(); ++i)
        if (summaries[i].name.empty()) {
          summaries[i].name = config.runs[i].name;
          summaries[i].status = "interrupted";
          files.push([&writer, i] { writer.set_run_status(i, "interrupted"); });
        }
      break;
    }
  }
  start = Clock::now();
  files.drain();
  seconds.file_wait = since(start);
  return training;
}

template Training train_all<float>(Backend<float>&, const Config&, const std::vector<Inputs>&, Recorder&, Progress&,
                                   const TrainOptions&);
template Training train_all<double>(Backend<double>&, const Config&, const std::vector<Inputs>&, Recorder&, Progress&,
                                    const TrainOptions&);

std::string summary_table(const std::vector<RunSummary>& rows, const Config& config) {
  static constexpr int kNumberWidth = 9;  // the narrowest column: a number of 5 significant digits and its sign
  std::string out;
  char buf[256];
  auto width = [](const char* name) { return std::max<int>(kNumberWidth, static_cast<int>(std::strlen(name))); };
  std::snprintf(buf, sizeof buf, "%-20s %-9s %6s", "run", "status", "epochs");
  out += buf;
  for (const auto& s : kSeries)
    if (s.summary > 0 && recorded(s, config)) {
      std::snprintf(buf, sizeof buf, " %*s", width(s.name), s.name);
      out += buf;
    }
  out += " refit_test_mse  epochs/s\n";
  for (const auto& r : rows) {
    std::snprintf(buf, sizeof buf, "%-20s %-9s %6lld", r.name.c_str(), r.status.c_str(),
                  static_cast<long long>(r.epochs_done));
    out += buf;
    for (const auto& s : kSeries)
      if (s.summary > 0 && recorded(s, config)) {
        std::snprintf(buf, sizeof buf, " %*.*g", width(s.name), s.summary, r.last.*s.scalar);
        out += buf;
      }
    std::snprintf(buf, sizeof buf, " %14.5g %9.2f\n", r.refit_test_mse, r.epochs_per_second);
    out += buf;
  }
  return out;
}

}  // namespace lowrank
