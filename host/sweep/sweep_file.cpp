#include "sweep_file.hpp"

#include <hdf5_hl.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cmath>
#include <limits>
#include <set>

#include "config.hpp"
#include "layout_check.hpp"
#include "paths.hpp"
#include "resume.hpp"
#include "series.hpp"

namespace lowrank {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr hsize_t kChunkBytes = 1 << 20;  // a chunk of a series: one (run, cell), replicates up to 1 MiB

// An axis value's TOML text as a number, when it is one.
bool as_number(const std::string& text, double& out) {
  try {
    std::size_t used = 0;
    out = std::stod(text, &used);
    return used == text.size();
  } catch (const std::exception&) {
    return false;
  }
}

std::string unquoted(const std::string& text) {
  return text.size() >= 2 && (text.front() == '"' || text.front() == '\'') ? text.substr(1, text.size() - 2) : text;
}

// Variable-length UTF-8 strings, row-major over `dims` (default: one dimension of values.size()).
H5Handle strings_dataset(hid_t parent, const char* name, const std::vector<std::string>& values,
                         std::vector<hsize_t> dims = {}) {
  if (dims.empty()) dims = {values.size()};
  H5Handle type = make(H5Tcopy(H5T_C_S1), "H5Tcopy");
  check_status(H5Tset_size(type.get(), H5T_VARIABLE), "H5Tset_size");
  check_status(H5Tset_cset(type.get(), H5T_CSET_UTF8), "H5Tset_cset");
  std::vector<const char*> pointers;
  for (const auto& v : values) pointers.push_back(v.c_str());
  H5Handle space = make(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), "H5Screate_simple");
  H5Handle ds = make(H5Dcreate2(parent, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                     "H5Dcreate2");
  check_status(H5Dwrite(ds.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, pointers.data()), "H5Dwrite");
  return ds;
}

// A NaN- (or zero-) filled chunked array, rewritten in parts while the sweep runs.
H5Handle filled_dataset(hid_t parent, const std::string& name, hid_t type, const std::vector<hsize_t>& dims,
                        const std::vector<hsize_t>& chunk, double fill) {
  H5Handle space = make(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), "H5Screate_simple");
  H5Handle dcpl = make(H5Pcreate(H5P_DATASET_CREATE), "H5Pcreate");
  check_status(H5Pset_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data()), "H5Pset_chunk");
  if (H5Tget_class(type) == H5T_FLOAT) {
    check_status(H5Pset_fill_value(dcpl.get(), H5T_NATIVE_DOUBLE, &fill), "H5Pset_fill_value");
  } else {
    const auto zero = static_cast<std::int8_t>(fill);
    check_status(H5Pset_fill_value(dcpl.get(), H5T_NATIVE_INT8, &zero), "H5Pset_fill_value");
  }
  return make(H5Dcreate2(parent, name.c_str(), type, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT), "H5Dcreate2");
}

void attach(hid_t dataset, const std::vector<hid_t>& scales) {
  for (std::size_t i = 0; i < scales.size(); ++i)
    check_status(H5DSattach_scale(dataset, scales[i], static_cast<unsigned>(i)), "H5DSattach_scale");
}

// Writes `count` contiguous values at `start` (the last dimension runs).
void write_row(hid_t dataset, hid_t mem_type, const std::vector<hsize_t>& start, hsize_t count, const void* data) {
  H5Handle space = make(H5Dget_space(dataset), "H5Dget_space");
  std::vector<hsize_t> counts(start.size(), 1);
  counts.back() = count;
  check_status(H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, start.data(), nullptr, counts.data(), nullptr),
               "H5Sselect_hyperslab");
  H5Handle mem = make(H5Screate_simple(1, &count, nullptr), "H5Screate_simple");
  check_status(H5Dwrite(dataset, mem_type, mem.get(), space.get(), H5P_DEFAULT, data), "H5Dwrite");
}

// The values key `j` of `axis` takes, as the file holds them: numbers when every one is one, else
// the texts (unquoted).
struct KeyValues {
  bool numeric = true;
  std::vector<double> numbers;
  std::vector<std::string> texts;
};
KeyValues key_values(const SweepAxis& axis, std::size_t j) {
  KeyValues out;
  for (const auto& point : axis.values) {
    double x = 0;
    out.numeric = out.numeric && as_number(point[j], x);
    out.numbers.push_back(x);
    out.texts.push_back(unquoted(point[j]));
  }
  return out;
}

// The extents of a sweep file's datasets, from its spec: a series over (run, the axes, replicate,
// epoch), its mean and standard error over (run, the axes, epoch), the cells' statuses over (the
// axes, replicate), and a slope's over (run, the axes but its own, epoch).
struct Extents {
  std::vector<hsize_t> series, mean, status;
  explicit Extents(const SweepSpec& spec) : series{spec.runs.size()}, mean{spec.runs.size()} {
    for (const SweepAxis& a : spec.axes)
      for (auto* dims : {&series, &mean, &status}) dims->push_back(a.values.size());
    const auto T = static_cast<hsize_t>(spec.replicates), E = static_cast<hsize_t>(spec.max_epochs);
    series.insert(series.end(), {T, E});
    mean.push_back(E);
    status.push_back(T);
  }
  static std::vector<hsize_t> derived(const SweepSpec& spec, const SweepSlope& slope) {
    std::vector<hsize_t> dims = {spec.runs.size()};
    for (const SweepAxis& a : spec.axes)
      if (a.name != slope.axis) dims.push_back(a.values.size());
    dims.push_back(static_cast<hsize_t>(spec.max_epochs));
    return dims;
  }
};

H5Handle open_dataset(hid_t file, const std::string& name, const std::vector<hsize_t>& dims, const std::string& path) {
  hid_t ds = -1;
  H5E_BEGIN_TRY { ds = H5Dopen2(file, name.c_str(), H5P_DEFAULT); }
  H5E_END_TRY;
  if (ds < 0) throw ConfigError("--resume '" + shown(path) + "': no dataset '" + name + "' (damaged or not this sweep's)");
  H5Handle handle(ds);
  H5Handle space = make(H5Dget_space(ds), "H5Dget_space");
  std::vector<hsize_t> have(dims.size());
  if (H5Sget_simple_extent_ndims(space.get()) != static_cast<int>(dims.size()) ||
      H5Sget_simple_extent_dims(space.get(), have.data(), nullptr) < 0 || have != dims)
    throw ConfigError("--resume '" + shown(path) + "': dataset '" + name + "' has another shape than the sweep's");
  return handle;
}

}  // namespace

Shard parse_shard(const std::string& text) {
  Shard s;
  if (text == "auto") {
    const char *id = std::getenv("SLURM_ARRAY_TASK_ID"), *count = std::getenv("SLURM_ARRAY_TASK_COUNT"),
               *first = std::getenv("SLURM_ARRAY_TASK_MIN");
    if (!id || !count)
      throw ConfigError("--shard auto: SLURM_ARRAY_TASK_ID and SLURM_ARRAY_TASK_COUNT are not set (run it as a task of "
                        "an sbatch --array job, or give --shard i/N)");
    s.count = parse_integer("SLURM_ARRAY_TASK_COUNT", count, 1, kMaxEpochs);
    s.index = parse_integer("SLURM_ARRAY_TASK_ID", id, 0, kMaxEpochs) -
              (first ? parse_integer("SLURM_ARRAY_TASK_MIN", first, 0, kMaxEpochs) : 0);
  } else {
    const auto slash = text.find('/');
    if (slash == std::string::npos) throw ConfigError("--shard '" + text + "' must be i/N (e.g. 0/4) or auto");
    s.count = parse_integer("--shard's N", text.substr(slash + 1), 1, kMaxEpochs);
    s.index = parse_integer("--shard's i", text.substr(0, slash), 0, kMaxEpochs);
  }
  if (s.index < 0 || s.index >= s.count)
    throw ConfigError("--shard " + std::to_string(s.index) + "/" + std::to_string(s.count) + ": i must be below N (0 to " +
                      std::to_string(s.count - 1) + ")");
  return s;
}

SweepFile::SweepFile(const std::string& path, const SweepSpec& spec, const std::string& version,
                     const std::string& command_line, const std::string& device, Shard shard,
                     const std::function<std::string(std::int64_t, std::int64_t)>& cell_file)
    : path_(path), spec_(spec), shard_(shard) {
  const auto runs = static_cast<hsize_t>(spec.runs.size()), T = static_cast<hsize_t>(spec.replicates),
             E = static_cast<hsize_t>(spec.max_epochs);
  H5Handle fapl = make(H5Pcreate(H5P_FILE_ACCESS), "H5Pcreate");
  check_status(H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_LATEST, H5F_LIBVER_LATEST), "H5Pset_libver_bounds");
  file_ = make(H5Fcreate(path.c_str(), H5F_ACC_EXCL, H5P_DEFAULT, fapl.get()), "H5Fcreate");
  const hid_t root = file_.get();
  attr_string(root, "format", kSweepFormat);
  attr_string(root, "engine_version", version);
  attr_string(root, "created_utc", utc_now());
  attr_string(root, "command_line", command_line);
  attr_string(root, "device", device);
  attr_string(root, "experiment", spec.experiment);
  attr_string(root, "config", spec.base_text + "\n" + spec.sweep_text);
  attr_number(root, "replicates", static_cast<std::int64_t>(spec.replicates));
  if (shard.count > 1) attr_string(root, "shard", std::to_string(shard.index) + "/" + std::to_string(shard.count));
  status_dataset(root, "status", "running");

  // Dimensions: run, each axis (its index), replicate, epoch; each axis key's values beside it.
  H5Handle run = strings_dataset(root, "run", spec.runs);
  check_status(H5DSset_scale(run.get(), "run"), "H5DSset_scale");
  std::vector<H5Handle> axis_scales;
  std::string coordinates;
  for (const SweepAxis& axis : spec.axes) {
    axis_scales.push_back(index_scale(root, axis.name.c_str(), axis.values.size()));
    for (std::size_t j = 0; j < axis.keys.size(); ++j) {
      const KeyValues v = key_values(axis, j);
      const hsize_t n = axis.values.size();
      if (v.numeric) fixed_dataset(root, axis.keys[j].c_str(), H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, v.numbers.data(), {n});
      else strings_dataset(root, axis.keys[j].c_str(), v.texts);
      H5Handle key = make(H5Dopen2(root, axis.keys[j].c_str(), H5P_DEFAULT), "H5Dopen2");
      attach(key.get(), {axis_scales.back().get()});
      coordinates += (coordinates.empty() ? "" : " ") + axis.keys[j];
    }
  }
  H5Handle replicate = index_scale(root, "replicate", T);
  H5Handle epoch = index_scale(root, "epoch", E);

  const Extents extents(spec);
  const std::vector<hsize_t> &dims = extents.series, &mean_dims = extents.mean, &status_dims = extents.status;
  std::vector<hid_t> scales = {run.get()}, mean_scales = {run.get()}, status_scales;
  for (const H5Handle& axis : axis_scales)
    for (auto* list : {&scales, &mean_scales, &status_scales}) list->push_back(axis.get());
  scales.insert(scales.end(), {replicate.get(), epoch.get()});
  mean_scales.push_back(epoch.get());
  status_scales.push_back(replicate.get());
  std::vector<hsize_t> chunk(dims.size(), 1), mean_chunk(mean_dims.size(), 1), status_chunk(status_dims.size(), 1);
  chunk.back() = E;
  chunk[chunk.size() - 2] = std::clamp<hsize_t>(kChunkBytes / (sizeof(double) * E), 1, T);
  mean_chunk.back() = E;
  status_chunk.back() = T;
  for (const std::string& name : spec.gathered) {
    const SeriesInfo& s = series_named(name);
    H5Handle ds = filled_dataset(root, name, H5T_IEEE_F64LE, dims, chunk, kNaN);
    attach(ds.get(), scales);
    describe(ds.get(), s.meaning, s.units, taken_at_text(s.taken_at));
    attr_string(ds.get(), "coordinates", coordinates);
    H5Handle mean = filled_dataset(root, name + "_mean", H5T_IEEE_F64LE, mean_dims, mean_chunk, kNaN);
    attach(mean.get(), mean_scales);
    describe(mean.get(), ("mean over the replicates: " + std::string(s.meaning)).c_str(), s.units,
             taken_at_text(s.taken_at));
    attr_string(mean.get(), "coordinates", coordinates);
    H5Handle se = filled_dataset(root, name + "_stderr", H5T_IEEE_F64LE, mean_dims, mean_chunk, kNaN);
    attach(se.get(), mean_scales);
    describe(se.get(), ("standard error of that mean (sample standard deviation / sqrt(replicates)): " +
                        std::string(s.meaning)).c_str(),
             s.units, taken_at_text(s.taken_at));
    attr_string(se.get(), "coordinates", coordinates);
  }
  // Derived datasets: over run, the other axes and epoch.
  for (const SweepSlope& slope : spec.slopes) {
    const std::vector<hsize_t> derived_dims = Extents::derived(spec, slope);
    std::vector<hsize_t> derived_chunk(derived_dims.size(), 1);
    derived_chunk.back() = E;
    std::vector<hid_t> derived_scales = {run.get()};
    for (std::size_t a = 0; a < spec.axes.size(); ++a)
      if (spec.axes[a].name != slope.axis) derived_scales.push_back(axis_scales[a].get());
    derived_scales.push_back(epoch.get());
    H5Handle ds = filled_dataset(root, slope.name, H5T_IEEE_F64LE, derived_dims, derived_chunk, kNaN);
    attach(ds.get(), derived_scales);
    char scale[32];
    std::snprintf(scale, sizeof scale, "%g", slope.scale);  // -2, not -2.000000
    const std::string meaning = std::string(scale) + " x the least-squares slope of log(mean of " + slope.series +
                                ") against log(" + slope.key + ") over the axis " + slope.axis;
    describe(ds.get(), meaning.c_str(), "1", taken_at_text(series_named(slope.series).taken_at));
    attr_string(ds.get(), "derived", "loglog_slope");
  }
  if (cell_file) {  // with keep_runs: where each cell's replicate's engine file is
    std::vector<std::string> names;
    for (std::int64_t cell = 0; cell < spec.cells(); ++cell)
      for (std::int64_t r = 0; r < spec.replicates; ++r) names.push_back(cell_file(cell, r));
    H5Handle ds = strings_dataset(root, "cell_file", names, status_dims);
    attach(ds.get(), status_scales);
    attr_string(ds.get(), "long_name", "each cell's replicate's engine file, relative to this file's folder");
  }
  H5Handle status = filled_dataset(root, "cell_status", H5T_STD_I8LE, status_dims, status_chunk, 0);
  attach(status.get(), status_scales);
  attr_string(status.get(), "long_name", "each cell's replicate: 0 pending, 1 complete, 2 diverged");
  attr_string(status.get(), "flag_meanings", "pending complete diverged");
  H5Handle device_ds = filled_dataset(root, "cell_device", H5T_STD_I8LE, status_dims, status_chunk, kCpuDevice);
  attach(device_ds.get(), status_scales);
  attr_string(device_ds.get(), "long_name",
              "the CUDA device each cell's replicate ran on (an index among the visible devices); -1: the CPU, or not "
              "yet run");
  check_status(H5Fflush(root, H5F_SCOPE_GLOBAL), "H5Fflush");
  check_status(H5Fstart_swmr_write(root), "H5Fstart_swmr_write");
  status_.assign(static_cast<std::size_t>(spec.cells() * spec.replicates), CellStatus::pending);
  device_.assign(status_.size(), kCpuDevice);
  for (std::size_t k = 0; k < spec.gathered.size(); ++k)
    values_.emplace_back(static_cast<std::size_t>(runs * spec.cells() * T * E), kNaN);
  open_objects();
}

SweepFile::SweepFile(const std::string& path, const SweepSpec& spec, bool read_only) : path_(path), spec_(spec) {
  if (!read_only) clear_writer_flags(path);  // a killed sweep leaves the file marked open for writing
  H5Handle fapl = make(H5Pcreate(H5P_FILE_ACCESS), "H5Pcreate");
  check_status(H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_LATEST, H5F_LIBVER_LATEST), "H5Pset_libver_bounds");
  file_ = make(H5Fopen(path.c_str(), read_only ? H5F_ACC_RDONLY | H5F_ACC_SWMR_READ : H5F_ACC_RDWR, fapl.get()),
               "H5Fopen");
  if (H5Aexists(file_.get(), "shard") > 0)  // checked by read_sweep_spec
    shard_ = parse_shard(read_string_attr(file_.get(), "shard", path, "--resume"));
  open_objects();
  // What the file already holds: every value, and which cells are done.
  for (std::size_t k = 0; k < series_.size(); ++k) {
    values_.emplace_back(static_cast<std::size_t>(spec.runs.size() * spec.cells() * spec.replicates * spec.max_epochs));
    check_status(H5Dread(series_[k].get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values_[k].data()),
                 "H5Dread");
  }
  std::vector<std::int8_t> raw(static_cast<std::size_t>(spec.cells() * spec.replicates));
  check_status(H5Dread(cell_status_.get(), H5T_NATIVE_INT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw.data()), "H5Dread");
  for (std::int8_t r : raw) status_.push_back(static_cast<CellStatus>(r));  // 0 to 2: read_sweep_spec checked
  device_.assign(status_.size(), kCpuDevice);
  if (cell_device_.get() >= 0)
    check_status(H5Dread(cell_device_.get(), H5T_NATIVE_INT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, device_.data()), "H5Dread");
  if (read_only) return;
  write_status(status_ds_.get(), "running");
  check_status(H5Fflush(file_.get(), H5F_SCOPE_GLOBAL), "H5Fflush");
  check_status(H5Fstart_swmr_write(file_.get()), "H5Fstart_swmr_write");
}

CellResult SweepFile::result(std::int64_t cell, std::int64_t replicate) const {
  const std::int64_t runs = static_cast<std::int64_t>(spec_.runs.size()), cells = spec_.cells(), T = spec_.replicates,
                     E = spec_.max_epochs, S = static_cast<std::int64_t>(spec_.gathered.size());
  CellResult r;
  r.diverged = status_.at(static_cast<std::size_t>(cell * T + replicate)) == CellStatus::diverged;
  r.device = device_.at(static_cast<std::size_t>(cell * T + replicate));
  r.values.resize(static_cast<std::size_t>(runs * S * E));
  for (std::int64_t k = 0; k < S; ++k)
    for (std::int64_t run = 0; run < runs; ++run) {
      const auto from = values_[static_cast<std::size_t>(k)].begin() +
                        static_cast<std::ptrdiff_t>(((run * cells + cell) * T + replicate) * E);
      std::copy(from, from + E, r.values.begin() + static_cast<std::ptrdiff_t>((run * S + k) * E));
    }
  return r;
}

void SweepFile::open_objects() {
  const Extents extents(spec_);
  for (const std::string& name : spec_.gathered) {
    series_.push_back(open_dataset(file_.get(), name, extents.series, path_));
    mean_.push_back(open_dataset(file_.get(), name + "_mean", extents.mean, path_));
    stderr_.push_back(open_dataset(file_.get(), name + "_stderr", extents.mean, path_));
  }
  for (const SweepSlope& slope : spec_.slopes)
    derived_.push_back(open_dataset(file_.get(), slope.name, Extents::derived(spec_, slope), path_));
  cell_status_ = open_dataset(file_.get(), "cell_status", extents.status, path_);
  if (H5Lexists(file_.get(), "cell_device", H5P_DEFAULT) > 0)  // absent from the files of engines before it
    cell_device_ = open_dataset(file_.get(), "cell_device", extents.status, path_);
  status_ds_ = open_dataset(file_.get(), "status", {}, path_);
}

void SweepFile::write(std::int64_t cell, std::int64_t replicate, const CellResult& result) {
  const std::int64_t runs = static_cast<std::int64_t>(spec_.runs.size()), cells = spec_.cells(), T = spec_.replicates,
                     E = spec_.max_epochs, S = static_cast<std::int64_t>(spec_.gathered.size());
  std::vector<hsize_t> start = {0}, mean_start = {0};
  for (std::int64_t i : spec_.cell_index(cell)) {
    start.push_back(static_cast<hsize_t>(i));
    mean_start.push_back(static_cast<hsize_t>(i));
  }
  start.insert(start.end(), {static_cast<hsize_t>(replicate), 0});
  mean_start.push_back(0);
  const CellStatus done = result.diverged ? CellStatus::diverged : CellStatus::complete;
  status_[static_cast<std::size_t>(cell * T + replicate)] = done;
  std::vector<double> mean(static_cast<std::size_t>(E)), se(static_cast<std::size_t>(E));
  for (std::int64_t k = 0; k < S; ++k) {
    std::vector<double>& all = values_[static_cast<std::size_t>(k)];
    for (std::int64_t run = 0; run < runs; ++run) {
      const std::size_t row = static_cast<std::size_t>(((run * cells + cell) * T) * E);
      const double* from = result.values.data() + (run * S + k) * E;
      std::copy(from, from + E, all.begin() + static_cast<std::ptrdiff_t>(row + static_cast<std::size_t>(replicate * E)));
      start[0] = mean_start[0] = static_cast<hsize_t>(run);
      write_row(series_[static_cast<std::size_t>(k)].get(), H5T_NATIVE_DOUBLE, start, static_cast<hsize_t>(E), from);
      for (std::int64_t t = 0; t < E; ++t) {  // over the replicates run so far
        const Stats stats = replicate_stats(static_cast<std::size_t>(k), run, cell, t);
        mean[static_cast<std::size_t>(t)] = stats.mean;
        se[static_cast<std::size_t>(t)] = stats.stderr_;
      }
      write_row(mean_[static_cast<std::size_t>(k)].get(), H5T_NATIVE_DOUBLE, mean_start, static_cast<hsize_t>(E), mean.data());
      write_row(stderr_[static_cast<std::size_t>(k)].get(), H5T_NATIVE_DOUBLE, mean_start, static_cast<hsize_t>(E), se.data());
    }
  }
  // The values reach the file before the status that says they are there.
  flush();
  std::vector<hsize_t> status_start(start.begin() + 1, start.end() - 1);
  const auto device = static_cast<std::int8_t>(result.device), code = static_cast<std::int8_t>(done);
  device_[static_cast<std::size_t>(cell * T + replicate)] = device;
  if (cell_device_.get() >= 0) write_row(cell_device_.get(), H5T_NATIVE_INT8, status_start, 1, &device);
  write_row(cell_status_.get(), H5T_NATIVE_INT8, status_start, 1, &code);
}

SweepFile::Stats SweepFile::replicate_stats(std::size_t k, std::int64_t run, std::int64_t cell, std::int64_t t) const {
  const std::int64_t T = spec_.replicates, E = spec_.max_epochs;
  double sum = 0, sum2 = 0, n = 0;
  for (std::int64_t r = 0; r < T; ++r) {
    const double v = values_[k][static_cast<std::size_t>(((run * spec_.cells() + cell) * T + r) * E + t)];
    if (status_[static_cast<std::size_t>(cell * T + r)] == CellStatus::pending || !std::isfinite(v)) continue;
    sum += v;
    sum2 += v * v;
    n += 1;
  }
  const double var = n > 1 ? std::max(sum2 - sum * sum / n, 0.0) / (n - 1) : kNaN;
  return {n > 0 ? sum / n : kNaN, std::sqrt(var / n)};
}

void SweepFile::write_derived() {
  const auto runs = static_cast<std::int64_t>(spec_.runs.size());
  for (std::size_t i = 0; i < spec_.slopes.size(); ++i) {
    const SweepSlope& slope = spec_.slopes[i];
    const auto k = static_cast<std::size_t>(
        std::find(spec_.gathered.begin(), spec_.gathered.end(), slope.series) - spec_.gathered.begin());
    std::size_t along = 0;
    while (spec_.axes[along].name != slope.axis) ++along;
    const SweepAxis& axis = spec_.axes[along];
    const auto key = static_cast<std::size_t>(std::find(axis.keys.begin(), axis.keys.end(), slope.key) - axis.keys.begin());
    std::vector<double> out;  // row-major over (run, the other axes, epoch): the cells with index 0 on `axis`
    for (std::int64_t run = 0; run < runs; ++run)
      for (std::int64_t cell = 0; cell < spec_.cells(); ++cell) {
        std::vector<std::int64_t> index = spec_.cell_index(cell);
        if (index[along] != 0) continue;
        for (std::int64_t t = 0; t < spec_.max_epochs; ++t) {
          double sx = 0, sy = 0, sxx = 0, sxy = 0, n = 0;
          for (std::size_t p = 0; p < axis.values.size(); ++p) {
            index[along] = static_cast<std::int64_t>(p);
            std::int64_t c = 0;  // the cell at this point of the axis
            for (std::size_t a = 0; a < spec_.axes.size(); ++a)
              c = c * static_cast<std::int64_t>(spec_.axes[a].values.size()) + index[a];
            const double y = replicate_stats(k, run, c, t).mean;
            if (!(y > 0)) continue;  // a log needs a positive mean
            const double x = std::log(std::stod(axis.values[p][key])), ly = std::log(y);
            sx += x, sy += ly, sxx += x * x, sxy += x * ly, n += 1;
          }
          const double denominator = n * sxx - sx * sx;
          out.push_back(n >= 2 && denominator > 0 ? slope.scale * (n * sxy - sx * sy) / denominator : kNaN);
        }
      }
    check_status(H5Dwrite(derived_[i].get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()), "H5Dwrite");
  }
  flush();
}

void SweepFile::set_status(const std::string& status) {
  write_status(status_ds_.get(), status);
  flush();
}

void SweepFile::flush() { check_status(H5Fflush(file_.get(), H5F_SCOPE_LOCAL), "H5Fflush"); }

namespace {

constexpr const char* kSweepStates[] = {"running", "complete", "interrupted", "failed"};

// A one-dimensional dataset of variable-length strings (checked to be strings).
std::vector<std::string> read_strings(hid_t file, const std::string& name) {
  H5Handle ds = make(H5Dopen2(file, name.c_str(), H5P_DEFAULT), "H5Dopen2");
  H5Handle type = make(H5Dget_type(ds.get()), "H5Dget_type");
  if (H5Tis_variable_str(type.get()) <= 0) throw Damage(name + " does not hold variable-length strings");
  H5Handle space = make(H5Dget_space(ds.get()), "H5Dget_space");
  std::vector<char*> raw(static_cast<std::size_t>(H5Sget_simple_extent_npoints(space.get())), nullptr);
  H5Handle mem = make(H5Tget_native_type(type.get(), H5T_DIR_DEFAULT), "H5Tget_native_type");
  check_status(H5Dread(ds.get(), mem.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, raw.data()), "H5Dread");
  std::vector<std::string> out;
  for (char* text : raw) out.emplace_back(text ? text : "");
  H5Dvlen_reclaim(mem.get(), space.get(), H5P_DEFAULT, raw.data());
  return out;
}

// A dimension scale of the file: present, a scale, and holding 0, 1, ..., size - 1.
void check_index_scale(hid_t f, LayoutCheck& layout, const std::string& name, hsize_t size) {
  layout.dataset(name, {H5T_INTEGER, {size}});
  H5Handle ds = make(H5Dopen2(f, name.c_str(), H5P_DEFAULT), "H5Dopen2");
  if (H5DSis_scale(ds.get()) <= 0) throw Damage(name + " is no longer a dimension scale");
  const std::vector<std::int64_t> values = read_all<std::int64_t>(f, name);
  for (std::size_t i = 0; i < values.size(); ++i)
    if (values[i] != static_cast<std::int64_t>(i)) throw Damage(name + " does not hold 0, 1, ..., " + std::to_string(size - 1));
}

// Every object of the sweep file `spec` describes, with its type, shape and the values the spec
// fixes (the runs, each axis's coordinates, the statuses).
void check_layout(hid_t f, const SweepSpec& spec) {
  LayoutCheck layout(f);
  layout.dataset("status", {H5T_STRING, {}});
  const std::string status = read_status(f, "status");
  if (!one_of(status, kSweepStates)) throw Damage("status is '" + status + "', none of " + listed(kSweepStates));
  const auto runs = static_cast<hsize_t>(spec.runs.size()), T = static_cast<hsize_t>(spec.replicates),
             E = static_cast<hsize_t>(spec.max_epochs);
  layout.dataset("run", {H5T_STRING, {runs}});
  if (read_strings(f, "run") != spec.runs) throw Damage("run does not hold the runs of its config");
  for (const SweepAxis& axis : spec.axes) {
    const hsize_t n = axis.values.size();
    check_index_scale(f, layout, axis.name, n);
    for (std::size_t j = 0; j < axis.keys.size(); ++j) {
      const std::string& key = axis.keys[j];
      const KeyValues v = key_values(axis, j);
      layout.dataset(key, {v.numeric ? H5T_FLOAT : H5T_STRING, {n}});
      if (v.numeric ? read_all<double>(f, key) != v.numbers : read_strings(f, key) != v.texts)
        throw Damage(key + " does not hold the values of axis '" + axis.name + "' in its config");
    }
  }
  check_index_scale(f, layout, "replicate", T);
  check_index_scale(f, layout, "epoch", E);
  const Extents extents(spec);
  for (const std::string& name : spec.gathered) {
    layout.dataset(name, {H5T_FLOAT, extents.series});
    layout.dataset(name + "_mean", {H5T_FLOAT, extents.mean});
    layout.dataset(name + "_stderr", {H5T_FLOAT, extents.mean});
  }
  for (const SweepSlope& slope : spec.slopes) layout.dataset(slope.name, {H5T_FLOAT, Extents::derived(spec, slope)});
  if (spec.keep_runs) layout.dataset("cell_file", {H5T_STRING, extents.status});
  if (exists(f, "cell_device")) layout.dataset("cell_device", {H5T_INTEGER, extents.status});
  layout.dataset("cell_status", {H5T_INTEGER, extents.status});
  const std::vector<std::int64_t> statuses = read_all<std::int64_t>(f, "cell_status");
  for (std::size_t i = 0; i < statuses.size(); ++i)
    if (statuses[i] < 0 || statuses[i] > 2)
      throw Damage("cell_status holds " + std::to_string(statuses[i]) + " for cell " +
                   std::to_string(i / static_cast<std::size_t>(T)) + ", replicate " +
                   std::to_string(i % static_cast<std::size_t>(T)) + " (0 pending, 1 complete, 2 diverged)");
}

}  // namespace

SweepSpec read_sweep_spec(const std::string& path, const std::string& option) {
  H5Handle file = open_for_reading(path, option);
  const hid_t f = file.get();
  return checked_file(option, path, [&] {
    const std::string format = read_string_attr(f, "format", path, option);
    if (format != kSweepFormat)
      throw ConfigError(option + " '" + shown(path) + "': not a sweep file of this engine (format '" + shown(format) +
                        "', this engine writes '" + kSweepFormat + "')");
    if (option == "--resume") check_swmr_superblock(f, path, option);
    SweepSpec spec = parse_sweep(read_string_attr(f, "config", path, option), option + " '" + shown(path) + "' (its config)", {});
    const std::int64_t replicates = read_int_attr(f, "replicates");
    if (replicates != spec.replicates)
      throw Damage("its attribute 'replicates' is " + std::to_string(replicates) + ", its config's " +
                   std::to_string(spec.replicates));
    if (const std::string experiment = read_string_attr(f, "experiment", path, option); experiment != spec.experiment)
      throw Damage("its attribute 'experiment' is '" + shown(experiment) + "', its config's '" + spec.experiment + "'");
    if (H5Aexists(f, "shard") > 0) {
      const std::string shard = read_string_attr(f, "shard", path, option);
      try {
        parse_shard(shard);
      } catch (const ConfigError&) {
        throw Damage("its attribute 'shard' is '" + shown(shard) + "', not a share i/N of the cells");
      }
    }
    check_layout(f, spec);
    return spec;
  });
}

}  // namespace lowrank
