#include "h5_writer.hpp"

#include <hdf5_hl.h>

#include <chrono>
#include <cmath>
#include <ctime>
#include <limits>
#include <stdexcept>

namespace lowrank {
namespace {

// The per-epoch series of a run group, in SPEC §4's order, then the engine's additions; 'S'
// marks the spectrum (min(k,d) wide), 'V' the vector (d wide), '.' a scalar.
struct SeriesName {
  const char* name;
  char shape;
};
constexpr SeriesName kSeries[] = {
    {"train_mse", '.'},      {"test_mse", '.'},           {"w_opnorm", '.'},      {"grad_singular_values", 'S'},
    {"grad_top_right_vector", 'V'}, {"energy", '.'},      {"align_data", '.'},    {"align_residue", '.'},
    {"align_initial", '.'},  {"align_residue_step", '.'}, {"epoch_seconds", '.'},
    {"align_data_v2", '.'},  {"align_residue_v2", '.'},
};
constexpr std::size_t kStatusLength = 32;
constexpr hsize_t kScalarChunk = 256;

hid_t check(hid_t id, const char* call) {
  if (id < 0) throw std::runtime_error(std::string("HDF5: ") + call + " failed");
  return id;
}
void check_status(herr_t status, const char* call) {
  if (status < 0) throw std::runtime_error(std::string("HDF5: ") + call + " failed");
}

H5Handle make(hid_t id, const char* call) { return H5Handle(check(id, call)); }

void attr_string(hid_t object, const char* name, const std::string& value) {
  H5Handle type = make(H5Tcopy(H5T_C_S1), "H5Tcopy");
  check_status(H5Tset_size(type.get(), H5T_VARIABLE), "H5Tset_size");
  check_status(H5Tset_cset(type.get(), H5T_CSET_UTF8), "H5Tset_cset");
  H5Handle space = make(H5Screate(H5S_SCALAR), "H5Screate");
  H5Handle attr = make(H5Acreate2(object, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), "H5Acreate2");
  const char* text = value.c_str();
  check_status(H5Awrite(attr.get(), type.get(), &text), "H5Awrite");
}

template <typename V>
void attr_number(hid_t object, const char* name, V value) {
  const hid_t type = std::is_floating_point_v<V> ? H5T_NATIVE_DOUBLE : H5T_NATIVE_INT64;
  H5Handle space = make(H5Screate(H5S_SCALAR), "H5Screate");
  H5Handle attr = make(H5Acreate2(object, name, type, space.get(), H5P_DEFAULT, H5P_DEFAULT), "H5Acreate2");
  if constexpr (std::is_floating_point_v<V>) {
    const double v = value;
    check_status(H5Awrite(attr.get(), type, &v), "H5Awrite");
  } else {
    const std::int64_t v = value;
    check_status(H5Awrite(attr.get(), type, &v), "H5Awrite");
  }
}

H5Handle status_type() {
  H5Handle type = make(H5Tcopy(H5T_C_S1), "H5Tcopy");
  check_status(H5Tset_size(type.get(), kStatusLength), "H5Tset_size");
  check_status(H5Tset_strpad(type.get(), H5T_STR_NULLPAD), "H5Tset_strpad");
  return type;
}

void write_status(hid_t dataset, const std::string& value) {
  H5Handle type = status_type();
  std::string padded = value;
  padded.resize(kStatusLength, '\0');
  check_status(H5Dwrite(dataset, type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, padded.data()), "H5Dwrite");
}

// A scalar fixed-length string dataset: SWMR writers may rewrite it, unlike an attribute.
H5Handle status_dataset(hid_t parent, const char* name, const std::string& value) {
  H5Handle type = status_type();
  H5Handle space = make(H5Screate(H5S_SCALAR), "H5Screate");
  H5Handle ds = make(H5Dcreate2(parent, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                     "H5Dcreate2");
  write_status(ds.get(), value);
  return ds;
}

template <typename V>
H5Handle scalar_dataset(hid_t parent, const char* name, hid_t type, V value) {
  H5Handle space = make(H5Screate(H5S_SCALAR), "H5Screate");
  H5Handle ds = make(H5Dcreate2(parent, name, type, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "H5Dcreate2");
  check_status(H5Dwrite(ds.get(), type, H5S_ALL, H5S_ALL, H5P_DEFAULT, &value), "H5Dwrite");
  return ds;
}

// A fixed array written once (inputs, coordinates). `mem_type` describes `data`.
void fixed_dataset(hid_t parent, const char* name, hid_t file_type, hid_t mem_type, const void* data,
                   std::vector<hsize_t> dims) {
  H5Handle space = make(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), "H5Screate_simple");
  H5Handle ds = make(H5Dcreate2(parent, name, file_type, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                     "H5Dcreate2");
  check_status(H5Dwrite(ds.get(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), "H5Dwrite");
}

// An empty dataset of `width` columns (0: a vector) growing along an unlimited first dimension.
H5Handle growing_dataset(hid_t parent, const char* name, hid_t file_type, hsize_t width, double fill) {
  const int rank = width ? 2 : 1;
  const hsize_t dims[2] = {0, width}, max_dims[2] = {H5S_UNLIMITED, width};
  const hsize_t chunk[2] = {width ? 1 : kScalarChunk, width};
  H5Handle space = make(H5Screate_simple(rank, dims, max_dims), "H5Screate_simple");
  H5Handle dcpl = make(H5Pcreate(H5P_DATASET_CREATE), "H5Pcreate");
  check_status(H5Pset_chunk(dcpl.get(), rank, chunk), "H5Pset_chunk");
  check_status(H5Pset_fill_value(dcpl.get(), H5T_NATIVE_DOUBLE, &fill), "H5Pset_fill_value");
  return make(H5Dcreate2(parent, name, file_type, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT), "H5Dcreate2");
}

// A coordinate 0…size−1 made an HDF5 dimension scale.
H5Handle index_scale(hid_t group, const char* name, hsize_t size) {
  std::vector<std::int64_t> values(size);
  for (hsize_t i = 0; i < size; ++i) values[i] = static_cast<std::int64_t>(i);
  fixed_dataset(group, name, H5T_STD_I64LE, H5T_NATIVE_INT64, values.data(), {size});
  H5Handle ds = make(H5Dopen2(group, name, H5P_DEFAULT), "H5Dopen2");
  check_status(H5DSset_scale(ds.get(), name), "H5DSset_scale");
  return ds;
}

H5Handle epoch_scale(hid_t group) {
  H5Handle ds = growing_dataset(group, "epoch", H5T_STD_I64LE, 0, 0.0);
  check_status(H5DSset_scale(ds.get(), "epoch"), "H5DSset_scale");
  return ds;
}

std::string utc_now() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void write_inputs(hid_t parent, const Inputs& in, hid_t file_type) {
  H5Handle g = make(H5Gcreate2(parent, in.name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "H5Gcreate2");
  attr_string(g.get(), "teacher", to_string(in.teacher));
  const auto n = static_cast<hsize_t>(in.n), nt = static_cast<hsize_t>(in.n_test), d = static_cast<hsize_t>(in.d),
             k = static_cast<hsize_t>(in.k);
  const struct {
    const char* name;
    const std::vector<double>& data;
    std::vector<hsize_t> dims;
  } arrays[] = {
      {"X_train", in.X_train, {n, d}}, {"y_train", in.y_train, {n}},       {"X_test", in.X_test, {nt, d}},
      {"y_test", in.y_test, {nt}},     {"X_bulk_train", in.X_bulk_train, {n, d}}, {"z_train", in.z_train, {n}},
      {"q", in.q, {d}},                {"beta", in.beta, {d}},             {"a", in.a, {k}},
      {"W0", in.W0, {k, d}},
  };
  // HDF5 converts the float64 draws to the file type, which is the working precision: the
  // file holds exactly what the runs trained on.
  for (const auto& a : arrays) fixed_dataset(g.get(), a.name, file_type, H5T_NATIVE_DOUBLE, a.data.data(), a.dims);
}

}  // namespace

H5Handle& H5Handle::operator=(H5Handle&& o) noexcept {
  if (this != &o) {
    H5Handle old(id_);
    id_ = o.id_;
    o.id_ = -1;
  }
  return *this;
}

H5Handle::~H5Handle() {
  if (id_ < 0) return;
  switch (H5Iget_type(id_)) {
    case H5I_FILE: H5Fclose(id_); break;
    case H5I_GROUP: H5Gclose(id_); break;
    case H5I_DATASET: H5Dclose(id_); break;
    case H5I_DATASPACE: H5Sclose(id_); break;
    case H5I_DATATYPE: H5Tclose(id_); break;
    case H5I_ATTR: H5Aclose(id_); break;
    case H5I_GENPROP_LST: H5Pclose(id_); break;
    default: break;
  }
}

H5Writer::H5Writer(const std::string& path, const FileHeader& header, const Config& config,
                   const std::vector<Inputs>& inputs) {
  const hid_t work_type = config.precision == Precision::float32 ? H5T_IEEE_F32LE : H5T_IEEE_F64LE;
  H5Handle fapl = make(H5Pcreate(H5P_FILE_ACCESS), "H5Pcreate");
  check_status(H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_LATEST, H5F_LIBVER_LATEST), "H5Pset_libver_bounds");
  file_ = make(H5Fcreate(path.c_str(), H5F_ACC_EXCL, H5P_DEFAULT, fapl.get()), "H5Fcreate");
  const hid_t root = file_.get();

  attr_string(root, "format", "lowrank-engine/1");
  attr_string(root, "engine_version", header.engine_version);
  attr_string(root, "created_utc", utc_now());
  attr_string(root, "command_line", header.command_line);
  attr_string(root, "experiment", config.experiment);
  attr_string(root, "device", header.device);
  attr_string(root, "precision", to_string(config.precision));
  attr_number(root, "seed", static_cast<std::int64_t>(config.seed));
  attr_string(root, "config", config.to_toml());
  status_ = status_dataset(root, "status", "running");

  H5Handle inputs_group = make(H5Gcreate2(root, "inputs", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "H5Gcreate2");
  for (const auto& in : inputs) write_inputs(inputs_group.get(), in, work_type);

  const auto d = static_cast<hsize_t>(config.d), s = static_cast<hsize_t>(std::min(config.k, config.d));
  const double nan = std::numeric_limits<double>::quiet_NaN();
  H5Handle runs_group = make(H5Gcreate2(root, "runs", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "H5Gcreate2");
  for (const auto& run : config.runs) {
    RunObjects r;
    r.group = make(H5Gcreate2(runs_group.get(), run.name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "H5Gcreate2");
    const hid_t g = r.group.get();
    attr_string(g, "inputs", run.inputs);
    attr_string(g, "activation", to_string(run.activation));
    attr_string(g, "loss", "mse");
    attr_number(g, "gamma", run.gamma);
    attr_number(g, "lr", run.lr);
    attr_number(g, "epochs", run.epochs);
    attr_string(g, "a_init", to_string(config.a_init));
    attr_number(g, "normalize_rows", static_cast<std::int64_t>(run.normalize_rows));
    attr_number(g, "k", config.k);
    attr_number(g, "d", config.d);
    attr_number(g, "n", config.n);
    if (!run.cell.empty()) attr_string(g, "cell", run.cell);
    if (run.gamma_nb) attr_number(g, "gamma_nb", *run.gamma_nb);
    if (run.lr_nb) attr_number(g, "lr_nb", *run.lr_nb);

    r.status = status_dataset(g, "status", "running");
    r.diverged_epoch = scalar_dataset(g, "diverged_epoch", H5T_NATIVE_INT64, std::int64_t{-1});
    r.refit = scalar_dataset(g, "refit_test_mse", H5T_NATIVE_DOUBLE, nan);
    r.epoch.dataset = epoch_scale(g);
    H5Handle singular_index = index_scale(g, "singular_index", s);
    H5Handle input_index = index_scale(g, "input_index", d);
    for (const auto& series : kSeries) {
      const hsize_t width = series.shape == 'S' ? s : series.shape == 'V' ? d : 0;
      Series ser{growing_dataset(g, series.name, width ? work_type : H5T_IEEE_F64LE, width, nan), width};
      check_status(H5DSattach_scale(ser.dataset.get(), r.epoch.dataset.get(), 0), "H5DSattach_scale");
      if (width)
        check_status(H5DSattach_scale(ser.dataset.get(), (series.shape == 'S' ? singular_index : input_index).get(), 1),
                     "H5DSattach_scale");
      r.series.push_back(std::move(ser));
    }
    runs_.push_back(std::move(r));
  }

  H5Handle pairs_group = make(H5Gcreate2(root, "pairs", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "H5Gcreate2");
  for (const auto& pair : config.pairs) {
    PairObjects p;
    p.group = make(H5Gcreate2(pairs_group.get(), pair.name().c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                   "H5Gcreate2");
    attr_string(p.group.get(), "run_a", pair.a);
    attr_string(p.group.get(), "run_b", pair.b);
    p.epoch.dataset = epoch_scale(p.group.get());
    p.angle.dataset = growing_dataset(p.group.get(), "pair_mean_angle_deg", H5T_IEEE_F64LE, 0, nan);
    check_status(H5DSattach_scale(p.angle.dataset.get(), p.epoch.dataset.get(), 0), "H5DSattach_scale");
    pairs_.push_back(std::move(p));
  }

  check_status(H5Fflush(root, H5F_SCOPE_GLOBAL), "H5Fflush");
  check_status(H5Fstart_swmr_write(root), "H5Fstart_swmr_write");
}

H5Writer::~H5Writer() = default;

void H5Writer::append_row(Series& s, std::int64_t epoch, const double* values) {
  const hsize_t e = static_cast<hsize_t>(epoch);
  const hsize_t new_dims[2] = {e + 1, s.width};
  check_status(H5Dset_extent(s.dataset.get(), new_dims), "H5Dset_extent");
  H5Handle space = make(H5Dget_space(s.dataset.get()), "H5Dget_space");
  const hsize_t start[2] = {e, 0}, count[2] = {1, s.width};
  check_status(H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, start, nullptr, count, nullptr),
               "H5Sselect_hyperslab");
  const hsize_t mem_count = s.width ? s.width : 1;
  H5Handle mem = make(H5Screate_simple(1, &mem_count, nullptr), "H5Screate_simple");
  check_status(H5Dwrite(s.dataset.get(), H5T_NATIVE_DOUBLE, mem.get(), space.get(), H5P_DEFAULT, values), "H5Dwrite");
}

void H5Writer::append_epoch(std::size_t run, std::int64_t epoch, const EpochRecord& rec) {
  RunObjects& r = runs_.at(run);
  const double scalars[] = {rec.train_mse,     rec.test_mse,      rec.w_opnorm,
                            0,                 0,                 rec.energy,
                            rec.align_data,    rec.align_residue, rec.align_initial,
                            rec.align_residue_step, rec.epoch_seconds, rec.align_data_v2,
                            rec.align_residue_v2};
  for (std::size_t i = 0; i < r.series.size(); ++i) {
    const char shape = kSeries[i].shape;
    const double* values = shape == 'S' ? rec.singular_values.data()
                            : shape == 'V' ? rec.top_right_vector.data()
                                           : &scalars[i];
    append_row(r.series[i], epoch, values);
  }
  const double e = static_cast<double>(epoch);
  append_row(r.epoch, epoch, &e);
  flush();
}

void H5Writer::append_pair(std::size_t pair, std::int64_t epoch, double angle) {
  PairObjects& p = pairs_.at(pair);
  const double e = static_cast<double>(epoch);
  append_row(p.angle, epoch, &angle);
  append_row(p.epoch, epoch, &e);
  flush();
}

void H5Writer::set_refit(std::size_t run, double value) {
  check_status(H5Dwrite(runs_.at(run).refit.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, &value),
               "H5Dwrite");
  flush();
}

void H5Writer::set_run_status(std::size_t run, const std::string& status, std::int64_t diverged_epoch) {
  RunObjects& r = runs_.at(run);
  write_status(r.status.get(), status);
  check_status(H5Dwrite(r.diverged_epoch.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, &diverged_epoch),
               "H5Dwrite");
  flush();
}

void H5Writer::set_status(const std::string& status) {
  write_status(status_.get(), status);
  flush();
}

void H5Writer::flush() { check_status(H5Fflush(file_.get(), H5F_SCOPE_LOCAL), "H5Fflush"); }

}  // namespace lowrank
