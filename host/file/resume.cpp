#include "resume.hpp"

#include <hdf5.h>

#include <algorithm>
#include <new>
#include <stdexcept>

#include "h5_objects.hpp"
#include "layout_check.hpp"
#include "paths.hpp"
#include "snapshot.hpp"

namespace lowrank {
namespace {

constexpr const char* kFileStates[] = {"running", "complete", "interrupted", "diverged", "failed"};
constexpr const char* kRunStates[] = {"running", "complete", "interrupted", "diverged"};
// Rows read at once when a long series is summed: memory stays bounded whatever the file claims.
constexpr hsize_t kRowsPerRead = 1 << 16;

// A scalar dataset (checked to be one) as `V`.
template <typename V>
V read_scalar(hid_t file, const std::string& name) {
  H5Handle ds = make(H5Dopen2(file, name.c_str(), H5P_DEFAULT), "H5Dopen2");
  V value{};
  check_status(H5Dread(ds.get(), std::is_floating_point_v<V> ? H5T_NATIVE_DOUBLE : H5T_NATIVE_INT64, H5S_ALL,
                       H5S_ALL, H5P_DEFAULT, &value),
               "H5Dread");
  return value;
}

// Rows [first, first + count) of a one-dimensional dataset, as float64.
std::vector<double> read_rows(hid_t file, const std::string& name, hsize_t first, hsize_t count) {
  H5Handle ds = make(H5Dopen2(file, name.c_str(), H5P_DEFAULT), "H5Dopen2");
  H5Handle space = make(H5Dget_space(ds.get()), "H5Dget_space");
  check_status(H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, &first, nullptr, &count, nullptr),
               "H5Sselect_hyperslab");
  H5Handle mem = make(H5Screate_simple(1, &count, nullptr), "H5Screate_simple");
  std::vector<double> out(count);
  if (count > 0)
    check_status(H5Dread(ds.get(), H5T_NATIVE_DOUBLE, mem.get(), space.get(), H5P_DEFAULT, out.data()), "H5Dread");
  return out;
}

// One row block [slot, index, :, :] of a checkpoint dataset, as float64.
std::vector<double> read_slot(hid_t file, const std::string& name, int slot, std::size_t index) {
  H5Handle ds = make(H5Dopen2(file, name.c_str(), H5P_DEFAULT), "H5Dopen2");
  H5Handle space = make(H5Dget_space(ds.get()), "H5Dget_space");
  hsize_t dims[4];
  H5Sget_simple_extent_dims(space.get(), dims, nullptr);
  const hsize_t start[4] = {static_cast<hsize_t>(slot), index, 0, 0}, count[4] = {1, 1, dims[2], dims[3]};
  check_status(H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, start, nullptr, count, nullptr), "H5Sselect_hyperslab");
  const hsize_t length = dims[2] * dims[3];
  H5Handle mem = make(H5Screate_simple(1, &length, nullptr), "H5Screate_simple");
  std::vector<double> out(length);
  check_status(H5Dread(ds.get(), H5T_NATIVE_DOUBLE, mem.get(), space.get(), H5P_DEFAULT, out.data()), "H5Dread");
  return out;
}

// The summary of a run that ended (its rows checked to be exactly its epochs): its last row, its
// refit, and the seconds of its epochs.
void read_summary(hid_t f, const Config& c, const std::string& group, ResumePlan::Run& r) {
  const auto rows = static_cast<hsize_t>(r.rows);
  auto last_of = [&](const char* series) { return rows > 0 ? read_rows(f, group + series, rows - 1, 1)[0] : 0.0; };
  for (const auto& s : kSeries)
    if (s.scalar && recorded(s, c)) r.last.*s.scalar = last_of(s.name);
  r.seconds = 0;
  for (hsize_t first = 0; first < rows; first += kRowsPerRead)
    for (double s : read_rows(f, group + "epoch_seconds", first, std::min(kRowsPerRead, rows - first))) r.seconds += s;
  r.refit_test_mse = read_scalar<double>(f, group + "refit_test_mse");
}

// The rows of one run's per-epoch datasets: the fewest and the most of the scalar series (and
// the epoch scale), and of the heavy ones (and their own scale).
struct RunRows {
  hsize_t scalar_min = ~hsize_t{0}, scalar_max = 0, heavy_min = ~hsize_t{0}, heavy_max = 0;
  void add(hsize_t rows, bool heavy) {
    (heavy ? heavy_min : scalar_min) = std::min(heavy ? heavy_min : scalar_min, rows);
    (heavy ? heavy_max : scalar_max) = std::max(heavy ? heavy_max : scalar_max, rows);
  }
};

// The heavy series' rows that `epochs` epochs write (epochs 0, N, 2N, ...).
hsize_t heavy_rows(const Config& c, std::int64_t epochs) {
  return static_cast<hsize_t>((epochs + c.heavy_every - 1) / c.heavy_every);
}

// Checks run `run`'s snapshots: every stack there with its shape, as many arrays in each, no more
// than the run takes, and as many as it took if it ended. Returns how many.
hsize_t check_snapshots(LayoutCheck& layout, const Config& c, const RunSpec& run, const ResumePlan::Run& r) {
  const std::string g = "runs/" + run.name + "/snapshots/";
  const auto k = static_cast<hsize_t>(c.k), d = static_cast<hsize_t>(c.d), rank = static_cast<hsize_t>(c.snapshot_rank);
  const RunExtents extents = run_extents(c);
  std::vector<std::pair<std::string, Expected>> stacks = {
      {"epoch", {H5T_INTEGER, {0}, true}},
      {"grad_left", {H5T_FLOAT, {0, rank, k}, true}},
      {"grad_right", {H5T_FLOAT, {0, rank, d}, true}}};
  for (const RunTensorInfo& t : kRunTensors) {
    if (!t.snapshot_name) continue;
    Expected want{H5T_FLOAT, {0}, true};
    for (Extent e : {t.rows, t.cols})
      if (e != Extent::one) want.dims.push_back(static_cast<hsize_t>(extents.of(e)));
    stacks.emplace_back(t.snapshot_name, want);
  }
  hsize_t fewest = ~hsize_t{0}, most = 0;
  for (const auto& [name, want] : stacks) {
    const hsize_t arrays = layout.dataset(g + name, want)[0];
    fewest = std::min(fewest, arrays);
    most = std::max(most, arrays);
  }
  const auto taken = static_cast<hsize_t>(snapshot_count(run.epochs, c.snapshot_every));
  if (most > taken)
    throw Damage(g.substr(0, g.size() - 1) + " holds " + std::to_string(most) + " snapshots, more than the " +
                 std::to_string(taken) + " its run takes");
  const bool ended = r.status == "complete" || r.status == "diverged";
  const auto ran = static_cast<hsize_t>(r.status == "complete" ? taken
                                        : snapshot_row(r.diverged_epoch, c.snapshot_every));
  if (ended && (fewest != most || fewest != ran))
    throw Damage("the run '" + run.name + "' is " + r.status + " with " + std::to_string(ran) +
                 " snapshots, but its snapshot datasets hold from " + std::to_string(fewest) + " to " +
                 std::to_string(most));
  return fewest;
}

// Checks the objects of run `run` and what its status and rows say; fills `r`.
RunRows check_run(hid_t f, LayoutCheck& layout, const Config& c, const RunSpec& run, ResumePlan::Run& r) {
  const std::string g = "runs/" + run.name + "/";
  layout.dataset(g + "status", {H5T_STRING, {}});
  layout.dataset(g + "diverged_epoch", {H5T_INTEGER, {}});
  layout.dataset(g + "refit_test_mse", {H5T_FLOAT, {}});
  layout.dataset(g + "refit_a", {H5T_FLOAT, {static_cast<hsize_t>(c.k)}});
  RunRows rows;
  rows.add(layout.rows(g + "epoch", H5T_INTEGER), false);
  if (c.heavy_every > 1) rows.add(layout.rows(g + "spectrum_epoch", H5T_INTEGER), true);
  for (const auto& s : kSeries) {
    if (!recorded(s, c)) continue;
    const auto width = static_cast<hsize_t>(series_width(s, c));
    rows.add(layout.rows(g + s.name, H5T_FLOAT, width), is_heavy(s));
  }
  r.status = read_status(f, g + "status");
  if (!one_of(r.status, kRunStates))
    throw Damage(g + "status is '" + r.status + "', none of " + listed(kRunStates));
  r.diverged_epoch = read_scalar<std::int64_t>(f, g + "diverged_epoch");
  const bool diverged = r.status == "diverged";
  if (diverged ? r.diverged_epoch < 0 || r.diverged_epoch >= run.rows() : r.diverged_epoch != -1)
    throw Damage(g + "diverged_epoch is " + std::to_string(r.diverged_epoch) + " for a run whose status is '" +
                 r.status + "' and which has " + std::to_string(run.epochs) + " epochs");
  if (rows.scalar_max > static_cast<hsize_t>(run.rows()) || rows.heavy_max > heavy_rows(c, run.rows()))
    throw Damage(g.substr(0, g.size() - 1) + " holds more rows than the run's " + std::to_string(run.epochs) + " epochs");
  r.rows = static_cast<std::int64_t>(rows.scalar_min);
  if (r.status == "complete" || diverged) {  // every epoch it ran was written before its status
    const std::int64_t ran = diverged ? r.diverged_epoch : run.rows();
    if (rows.scalar_min != rows.scalar_max || rows.heavy_min != rows.heavy_max ||
        rows.scalar_min != static_cast<hsize_t>(ran) || rows.heavy_min != heavy_rows(c, ran))
      throw Damage("the run '" + run.name + "' is " + r.status + " after " + std::to_string(ran) +
                   " epochs, but its per-epoch datasets hold from " + std::to_string(rows.scalar_min) + " to " +
                   std::to_string(std::max(rows.scalar_max, rows.heavy_max)) + " rows");
    read_summary(f, c, g, r);
  }
  if (c.snapshot_every > 0) r.snapshots = check_snapshots(layout, c, run, r);
  return rows;
}

}  // namespace

bool ResumePlan::finished(std::size_t run, std::size_t group) const {
  const Run& r = runs.at(run);
  const std::int64_t at = groups.at(group).epoch;
  return (r.status == "complete" && r.rows <= at) || (r.status == "diverged" && r.diverged_epoch < at);
}

ResumePlan plan_resume(const std::string& path) {
  ResumePlan plan;
  H5Handle file = open_for_reading(path, "--resume");
  const hid_t f = file.get();
  checked_file("--resume", path, [&] {
    const std::string format = read_string_attr(f, "format", path, "--resume");
    if (format != "lowrank-engine/1")
      throw ConfigError("--resume '" + shown(path) + "' has format '" + shown(format) +
                        "'; this engine resumes 'lowrank-engine/1'");
    check_swmr_superblock(f, path, "--resume");
    plan.config = parse_config(read_string_attr(f, "config", path, "--resume"), shown(path) + " (its config attribute)", {});
    const Config& c = plan.config;
    plan.device = read_string_attr(f, "device", path, "--resume");
    if (H5Aexists(f, "resumed") > 0) plan.resumed = read_string_attr(f, "resumed", path, "--resume");
    if (H5Aexists(f, "checkpoint_every") > 0) {
      plan.checkpoint_every = read_int_attr(f, "checkpoint_every");
      if (plan.checkpoint_every < 0 || plan.checkpoint_every > kMaxEpochs)
        throw Damage("its attribute 'checkpoint_every' is " + std::to_string(plan.checkpoint_every));
    }
    if (!exists(f, "checkpoints"))
      throw ConfigError("--resume '" + shown(path) +
                        "' has no checkpoints (written with --checkpoint-every 0, or by an older engine)");

    LayoutCheck layout(f);
    layout.dataset("status", {H5T_STRING, {}});
    plan.status = read_status(f, "status");
    if (!one_of(plan.status, kFileStates))
      throw Damage("status is '" + plan.status + "', none of " + listed(kFileStates));
    // The memory peaks: both, or neither (a file from before they were recorded).
    if (exists(f, "peak_host_bytes") || exists(f, "peak_device_bytes"))
      for (const char* peak : {"peak_host_bytes", "peak_device_bytes"}) layout.dataset(peak, {H5T_INTEGER, {}});
    const auto n = static_cast<hsize_t>(c.n), nt = static_cast<hsize_t>(c.n_test), d = static_cast<hsize_t>(c.d),
               k = static_cast<hsize_t>(c.k);
    for (const auto& spec : c.inputs) {
      const std::string g = "inputs/" + spec.name + "/";
      const std::pair<const char*, std::vector<hsize_t>> arrays[] = {
          {"X_train", {n, d}}, {"y_train", {n}}, {"X_test", {nt, d}}, {"y_test", {nt}}, {"a", {k}}, {"W0", {k, d}}};
      for (const auto& [name, dims] : arrays) layout.dataset(g + name, {H5T_FLOAT, dims});
    }
    plan.runs.resize(c.runs.size());
    std::vector<RunRows> run_rows;
    for (std::size_t i = 0; i < c.runs.size(); ++i) run_rows.push_back(check_run(f, layout, c, c.runs[i], plan.runs[i]));
    std::vector<hsize_t> pair_rows;
    for (const auto& pair : c.pairs) {
      const std::string g = "pairs/" + pair.name() + "/";
      const hsize_t epochs = layout.rows(g + "epoch", H5T_INTEGER);
      const hsize_t angles = layout.rows(g + "pair_mean_angle_deg", H5T_FLOAT);
      const std::int64_t most = std::min(c.run(pair.a).rows(), c.run(pair.b).rows());
      if (std::max(epochs, angles) > static_cast<hsize_t>(most))
        throw Damage("pairs/" + pair.name() + " holds more rows than its runs' " + std::to_string(most) + " epochs");
      pair_rows.push_back(std::min(epochs, angles));
    }

    const auto groups = side_by_side_groups(c);
    const RunExtents extents = run_extents(c);
    for (std::size_t i = 0; i < groups.size(); ++i) {
      const std::string g = "checkpoints/group" + std::to_string(i) + "/";
      if (exists(f, g + "vectors"))
        throw ConfigError("--resume '" + shown(path) +
                          "' was written by an earlier engine, whose checkpoints kept a run's vectors in one dataset; "
                          "this one keeps a dataset per tensor and cannot continue it (run it again)");
      const hsize_t runs = groups[i].size();
      for (RunTensor t : checkpointed_tensors(c))
        layout.dataset(g + info(t).name, {H5T_FLOAT, {2, runs, static_cast<hsize_t>(extents.rows(info(t))),
                                                      static_cast<hsize_t>(extents.cols(info(t)))}});
      layout.dataset(g + "epoch", {H5T_INTEGER, {2}});
      std::int64_t slots[2] = {-1, -1};
      H5Handle epoch = make(H5Dopen2(f, (g + "epoch").c_str(), H5P_DEFAULT), "H5Dopen2");
      check_status(H5Dread(epoch.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, slots), "H5Dread");
      std::int64_t last = 0;  // the group's last epoch
      for (std::size_t r : groups[i]) last = std::max(last, c.runs[r].rows());
      ResumePlan::Group group;
      for (int slot = 0; slot < 2; ++slot) {
        const std::int64_t at = slots[slot];
        if (at != -1 && (at < 1 || at > last))
          throw Damage(g + "epoch holds " + std::to_string(at) + " in slot " + std::to_string(slot) +
                       ": a checkpoint lies between epoch 1 and the group's last, " + std::to_string(last) +
                       " (or is -1, unwritten)");
        if (at > group.epoch) {
          group.epoch = at;
          group.slot = slot;
        }
      }
      plan.groups.push_back(group);
      // Every run continued from the checkpoint must hold its rows (and snapshots) up to there.
      const auto snapshots_kept =
          c.snapshot_every > 0 ? static_cast<hsize_t>(snapshot_row(group.epoch, c.snapshot_every)) : 0;
      for (std::size_t r : groups[i])
        if (!plan.finished(r, i) && plan.runs[r].snapshots < snapshots_kept)
          throw Damage("runs/" + c.runs[r].name + "/snapshots holds " + std::to_string(plan.runs[r].snapshots) +
                       " snapshots, fewer than its checkpoint at epoch " + std::to_string(group.epoch) + " needs (" +
                       std::to_string(snapshots_kept) + ")");
      for (std::size_t r : groups[i])
        if (!plan.finished(r, i) && (run_rows[r].scalar_min < static_cast<hsize_t>(group.epoch) ||
                                     run_rows[r].heavy_min < heavy_rows(c, group.epoch)))
          throw Damage("runs/" + c.runs[r].name + " holds " +
                       std::to_string(std::min(run_rows[r].scalar_min, run_rows[r].heavy_min)) +
                       " rows in its shortest per-epoch dataset, fewer than its checkpoint at epoch " +
                       std::to_string(group.epoch) + " needs");
      for (std::size_t p = 0; p < c.pairs.size(); ++p) {
        auto in_group = [&](const std::string& run) {
          return std::any_of(groups[i].begin(), groups[i].end(), [&](std::size_t r) { return c.runs[r].name == run; });
        };
        auto continued = [&](const std::string& run) {
          for (std::size_t r : groups[i])
            if (c.runs[r].name == run) return !plan.finished(r, i);
          return false;
        };
        const PairSpec& pair = c.pairs[p];
        if (in_group(pair.a) && continued(pair.a) && continued(pair.b) &&
            pair_rows[p] < static_cast<hsize_t>(group.epoch))
          throw Damage("pairs/" + pair.name() + " holds " + std::to_string(pair_rows[p]) +
                       " rows, but the checkpoint its runs continue from is at epoch " + std::to_string(group.epoch));
      }
    }
  });
  return plan;
}

void draw_resume_inputs(ResumePlan& plan, const std::string& path) {
  H5Handle file = open_for_reading(path, "--resume");
  const hid_t f = file.get();
  const Config& c = plan.config;
  try {
    const auto groups = side_by_side_groups(c);
    for (std::size_t i = 0; i < groups.size(); ++i) {
      ResumePlan::Group& group = plan.groups.at(i);
      if (group.slot < 0) continue;
      const std::string g = "checkpoints/group" + std::to_string(i) + "/";
      for (std::size_t r = 0; r < groups[i].size(); ++r) {
        CheckpointedValues& values = group.state.emplace_back();
        for (RunTensor t : checkpointed_tensors(c)) values.push_back(read_slot(f, g + info(t).name, group.slot, r));
      }
    }
    // The inputs the configuration draws must be the file's, in the working precision.
    for (const auto& spec : c.inputs) {
      const Inputs& in = plan.inputs.emplace_back(make_inputs(c, spec));
      const std::string g = "inputs/" + spec.name + "/";
      auto same = [&](const char* name, const std::vector<double>& drawn) {
        const std::vector<double> stored = read_all<double>(f, g + name);
        if (stored.size() != drawn.size()) return false;
        for (std::size_t i = 0; i < drawn.size(); ++i) {
          const double rounded =
              c.precision == Precision::float32 ? static_cast<double>(static_cast<float>(drawn[i])) : drawn[i];
          if (rounded != stored[i]) return false;
        }
        return true;
      };
      if (!same("X_train", in.X_train) || !same("y_train", in.y_train) || !same("W0", in.W0) ||
          !same("X_test", in.X_test) || !same("a", in.a))
        throw ConfigError("--resume '" + shown(path) +
                          "': the inputs drawn from the file's configuration differ from those in it (written by "
                          "another version of the engine?)");
    }
  } catch (const ConfigError&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw;  // the memory check passed: a real shortage, not damage
  } catch (const std::exception& e) {  // HDF5 failures
    throw ConfigError("--resume '" + shown(path) + "' is damaged or truncated (" + e.what() + ")");
  }
}

void clear_writer_flags(const std::string& path) {
  H5Handle fapl = make(H5Pcreate(H5P_FILE_ACCESS), "H5Pcreate");
  hbool_t clear = true;
  if (H5Pexist(fapl.get(), "clear_status_flags") > 0)
    check_status(H5Pset(fapl.get(), "clear_status_flags", &clear), "H5Pset(clear_status_flags)");
  check_status(H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_LATEST, H5F_LIBVER_LATEST), "H5Pset_libver_bounds");
  hid_t f = -1;
  H5E_BEGIN_TRY { f = H5Fopen(path.c_str(), H5F_ACC_RDWR, fapl.get()); }
  H5E_END_TRY;
  if (f < 0)
    throw ConfigError("--resume '" + shown(path) +
                      "' cannot be opened for writing: another program has it open (HDF5 locks a file while a "
                      "program reads it without SWMR, an h5py session for one); close it and resume again");
  H5Fclose(f);
}

}  // namespace lowrank
