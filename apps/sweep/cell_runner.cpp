#include "cell_runner.hpp"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <stdexcept>

#include "cpu_backend.hpp"
#include "cuda_backend.hpp"
#include "driver.hpp"
#include "epoch.hpp"
#include "h5_objects.hpp"
#include "h5_writer.hpp"
#include "inputs.hpp"
#include "progress.hpp"
#include "recorder.hpp"
#include "series.hpp"

namespace lowrank {
namespace {

// What a cell's epochs compute: everything, or at initialisation what its gathered series need.
EpochScope scope_of(const SweepSpec& spec) {
  return spec.at_init ? EpochScope{needs_of(spec.gathered)} : EpochScope{};
}

// A cell's gathered series, as the driver records them: the values array of CellResult, the
// rest (pairs, refits, snapshots, checkpoints) not a sweep's.
class Gathering final : public Recorder {
 public:
  Gathering(const SweepSpec& spec, const Config& c, CellResult& out) : spec_(spec), config_(c), out_(out) {
    const auto runs = static_cast<std::int64_t>(spec.runs.size()), series = static_cast<std::int64_t>(spec.gathered.size());
    out.values.assign(static_cast<std::size_t>(runs * series * spec.max_epochs), std::numeric_limits<double>::quiet_NaN());
    for (const RunSpec& r : c.runs) {  // the cell's runs in the configuration's order, each at its place in the file
      const auto at = std::find(spec.runs.begin(), spec.runs.end(), r.name);
      if (at == spec.runs.end()) throw std::logic_error("a cell's run '" + r.name + "' is not one of the sweep's runs");
      row_of_.push_back(at - spec.runs.begin());
    }
  }
  void append_epoch(std::size_t run, std::int64_t t, const EpochRecord& rec) override {
    const auto series = static_cast<std::int64_t>(spec_.gathered.size());
    for (std::int64_t k = 0; k < series; ++k) {
      const SeriesInfo& info = series_named(spec_.gathered[static_cast<std::size_t>(k)]);
      if (recorded(info, config_) || zero_where_not_recorded(info))
        out_.values[static_cast<std::size_t>((row_of_.at(run) * series + k) * spec_.max_epochs + t)] = rec.*info.scalar;
    }
  }
  void set_run_status(std::size_t, const std::string& status, std::int64_t) override {
    out_.diverged = out_.diverged || status == "diverged";
  }
  void append_pair(std::size_t, std::int64_t, double) override {}
  void append_snapshot(std::size_t, const Snapshot&) override {}
  void set_refit(std::size_t, double, const std::vector<double>&) override {}
  void write_checkpoint(std::size_t, int, std::int64_t, const std::vector<CheckpointedValues>&) override {}

 private:
  const SweepSpec& spec_;
  const Config& config_;
  CellResult& out_;
  std::vector<std::int64_t> row_of_;
};

template <typename T>
CellResult train(Backend<T>& be, const SweepSpec& spec, const Config& c) {
  CellResult out;
  std::vector<Inputs> inputs;
  for (const auto& g : c.inputs) inputs.push_back(make_inputs(c, g));
  Gathering gathering(spec, c, out);
  Progress quiet(stderr, false, false);
  TrainOptions options;
  options.scope = scope_of(spec);
  options.file_work = false;
  options.stops_on_signal = false;
  train_all(be, c, inputs, gathering, quiet, options);
  return out;
}

template <typename T>
std::unique_ptr<Backend<T>> backend_on(int device) {
  return device == kCpuDevice ? make_cpu_backend<T>() : make_cuda_backend<T>(device);
}

template <typename T>
CellResult train_on(int device, const SweepSpec& spec, const Config& c) {
  CellResult out = train(*backend_on<T>(device), spec, c);
  out.device = device;
  return out;
}

// The gathered series of the engine file at `path`, as run_cell gives them.
CellResult read_back(const SweepSpec& spec, const std::string& path) {
  const auto S = static_cast<std::int64_t>(spec.gathered.size()), E = spec.max_epochs;
  CellResult out;
  out.values.assign(static_cast<std::size_t>(static_cast<std::int64_t>(spec.runs.size()) * S * E),
                    std::numeric_limits<double>::quiet_NaN());
  H5Handle file = make(H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT), "H5Fopen");
  for (std::size_t r = 0; r < spec.runs.size(); ++r) {
    const std::string group = "runs/" + spec.runs[r] + "/";
    char status[kStatusLength + 1] = {};
    H5Handle status_ds = make(H5Dopen2(file.get(), (group + "status").c_str(), H5P_DEFAULT), "H5Dopen2");
    H5Handle type = status_type();
    check_status(H5Dread(status_ds.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, status), "H5Dread");
    out.diverged = out.diverged || std::string(status) == "diverged";
    for (std::int64_t k = 0; k < S; ++k) {
      const std::string name = group + spec.gathered[static_cast<std::size_t>(k)];
      // A series this cell does not record: NaN, or 0 for an epoch of the run (as train_mse's).
      const bool zero = !exists(file.get(), name);
      if (zero && !zero_where_not_recorded(series_named(spec.gathered[static_cast<std::size_t>(k)]))) continue;
      H5Handle ds = make(H5Dopen2(file.get(), (zero ? group + "train_mse" : name).c_str(), H5P_DEFAULT), "H5Dopen2");
      H5Handle space = make(H5Dget_space(ds.get()), "H5Dget_space");
      hsize_t n = 0;
      H5Sget_simple_extent_dims(space.get(), &n, nullptr);
      std::vector<double> values(n);
      if (!zero)
        check_status(H5Dread(ds.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()), "H5Dread");
      std::copy_n(values.begin(), std::min<std::int64_t>(static_cast<std::int64_t>(n), E),
                  out.values.begin() + static_cast<std::ptrdiff_t>((static_cast<std::int64_t>(r) * S + k) * E));
    }
  }
  return out;
}

template <typename T>
CellResult keep(const SweepSpec& spec, const Config& c, int device, const std::string& path) {
  std::unique_ptr<Backend<T>> be = backend_on<T>(device);
  std::vector<Inputs> inputs;
  for (const auto& g : c.inputs) inputs.push_back(make_inputs(c, g));
  const std::string part = path + ".part";
  std::filesystem::remove(part);  // a killed sweep's half-written cell
  {
    H5Writer writer(part, FileHeader{LOWRANK_VERSION, "engine sweep: a cell of " + spec.experiment, be->device(), 0}, c,
                    inputs);
    Progress quiet(stderr, false, false);
    TrainOptions options;
    options.stops_on_signal = false;  // the sweep stops between cells
    const Training t = train_all(*be, c, inputs, writer, quiet, options);
    const bool diverged = std::any_of(t.runs.begin(), t.runs.end(), [](const RunSummary& r) { return r.status == "diverged"; });
    writer.set_status(diverged ? "diverged" : "complete");
  }
  std::filesystem::rename(part, path);
  CellResult out = read_back(spec, path);
  out.device = device;
  return out;
}

}  // namespace

CellResult run_cell_keeping(const SweepSpec& spec, const Config& config, int device, const std::string& path) {
  return config.precision == Precision::float32 ? keep<float>(spec, config, device, path)
                                                : keep<double>(spec, config, device, path);
}

std::filesystem::path kept_cells_folder(const std::filesystem::path& sweep_file) {
  return sweep_file.parent_path() / (sweep_file.stem().string() + "-cells");
}

std::string kept_cell_name(std::int64_t cell, std::int64_t replicate) {
  return "cell" + std::to_string(cell) + "-r" + std::to_string(replicate) + ".h5";
}

CellResult run_cell(const SweepSpec& spec, const Config& config, int device) {
  return config.precision == Precision::float32 ? train_on<float>(device, spec, config)
                                                : train_on<double>(device, spec, config);
}

}  // namespace lowrank
