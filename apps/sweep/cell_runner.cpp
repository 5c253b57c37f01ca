#include "cell_runner.hpp"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>

#include "cpu_backend.hpp"
#include "cuda_backend.hpp"
#include "driver.hpp"
#include "epoch.hpp"
#include "h5_objects.hpp"
#include "h5_writer.hpp"
#include "progress.hpp"
#include "inputs.hpp"
#include "series.hpp"

namespace lowrank {
namespace {

// What a cell's epochs compute: everything, or at initialisation what its gathered series need.
EpochScope scope_of(const SweepSpec& spec) {
  return spec.at_init ? EpochScope{needs_of(spec.gathered)} : EpochScope{};
}

template <typename T>
CellResult train(Backend<T>& be, const SweepSpec& spec, const Config& c) {
  const auto runs = static_cast<std::int64_t>(spec.runs.size()), series = static_cast<std::int64_t>(spec.gathered.size());
  CellResult out;
  out.values.assign(static_cast<std::size_t>(runs * series * spec.max_epochs), std::numeric_limits<double>::quiet_NaN());
  std::vector<Inputs> inputs;
  for (const auto& g : c.inputs) inputs.push_back(make_inputs(c, g));
  const EpochScope scope = scope_of(spec);
  std::vector<DeviceInputs<T>> data;
  data.reserve(inputs.size());  // runs point into it
  for (const auto& in : inputs) data.push_back(load_inputs(be, in, c, scope));
  // At initialisation every run starts from W0: the runs of one inputs group share X W0ᵀ, formed
  // once (the same product, the same bits, as each run's forward pass).
  std::vector<std::size_t> group_of, runs_of(inputs.size(), 0);
  for (const std::string& name : spec.runs) {
    std::size_t group = 0;
    while (c.inputs[group].name != c.run(name).inputs) ++group;
    group_of.push_back(group);
    ++runs_of[group];
  }
  std::vector<Buffer<T>> preactivations(inputs.size());
  for (std::int64_t r = 0; r < runs; ++r) {
    const RunSpec& spec_r = c.run(spec.runs[static_cast<std::size_t>(r)]);
    const std::size_t group = group_of[static_cast<std::size_t>(r)];
    RunState<T> s = start_run(be, c, spec_r, data[group], inputs[group], scope);
    if (spec.at_init && runs_of[group] > 1) {
      Buffer<T>& Z0 = preactivations[group];
      Buffer<T>& Z = s[RunTensor::Z];
      if (Z0.size() == 0) {
        Z0 = be.zeros(Z.rows, Z.cols);
        be.gemm_nt(data[group].X, s[RunTensor::W], Z0);
      }
      be.copy(Z0, Z);
      s.preactivations_ready = true;
    }
    const std::int64_t epochs = spec.at_init ? 1 : spec_r.epochs;
    for (std::int64_t t = 0; t < epochs; ++t, ++s.epoch) {
      EpochRecord rec;
      // The spectrum's rows are not gathered.
      if (!run_epoch(be, s, {false, 0}, rec)) {
        out.diverged = true;
        break;
      }
      for (std::int64_t k = 0; k < series; ++k) {
        const SeriesInfo& info = series_named(spec.gathered[static_cast<std::size_t>(k)]);
        if (recorded(info, c) || zero_where_not_recorded(info))
          out.values[static_cast<std::size_t>((r * series + k) * spec.max_epochs + t)] = rec.*info.scalar;
      }
    }
  }
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
    const Training t = train_all(*be, c, inputs, writer, quiet, 0);
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
