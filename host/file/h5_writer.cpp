#include "h5_writer.hpp"


#include <hdf5_hl.h>

#include <algorithm>
#include <chrono>
#include <ctime>
#include <limits>
#include <stdexcept>
#include <type_traits>

namespace lowrank {
namespace {

constexpr hsize_t kScalarChunk = 256;
// The spectrum and the vector grow by a row of min(k,d) or d values an epoch (64 KiB at d = 16384).
// Uncompressed, rows are grouped into chunks of about kChunkBytes. Once a run's series would pass
// kCompressAbove they are compressed (shuffle + deflate: about half the size for a spectrum, a
// tenth off for a vector), a row per chunk: a compressed chunk rewritten as it fills would be
// stored anew each epoch, and the file would grow by the old copies. Rows under
// kCompressRowBytes (a truncated spectrum) would make chunks too small to be worth it.
constexpr hsize_t kChunkBytes = 256 << 10;
constexpr double kCompressAbove = 4.0 * (1 << 20);
constexpr hsize_t kCompressRowBytes = 4 << 10;
constexpr unsigned kDeflateLevel = 1;  // the fastest: the write thread keeps pace with the epochs



template <typename V>
H5Handle scalar_dataset(hid_t parent, const char* name, hid_t type, V value) {
  H5Handle space = make(H5Screate(H5S_SCALAR), "H5Screate");
  H5Handle ds = make(H5Dcreate2(parent, name, type, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "H5Dcreate2");
  check_status(H5Dwrite(ds.get(), type, H5S_ALL, H5S_ALL, H5P_DEFAULT, &value), "H5Dwrite");
  return ds;
}


// A fixed zero-filled dataset, written later in parts (checkpoint slots).
void zero_dataset(hid_t parent, const char* name, hid_t file_type, std::vector<hsize_t> dims) {
  H5Handle space = make(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), "H5Screate_simple");
  H5Handle dcpl = make(H5Pcreate(H5P_DATASET_CREATE), "H5Pcreate");
  check_status(H5Pset_alloc_time(dcpl.get(), H5D_ALLOC_TIME_EARLY), "H5Pset_alloc_time");
  make(H5Dcreate2(parent, name, file_type, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT), "H5Dcreate2");
}

// Storage of a growing dataset: rows per chunk, and whether chunks are compressed.
struct Layout {
  hsize_t chunk_rows = kScalarChunk;
  bool compress = false;
};

// The layout of a series of `rows` rows of `width` values of `bytes` each, chosen by its size.
Layout layout_for(hsize_t rows, hsize_t width, std::size_t bytes) {
  if (width == 0) return {};
  const hsize_t row_bytes = width * bytes;
  if (row_bytes >= kCompressRowBytes && static_cast<double>(rows) * static_cast<double>(row_bytes) > kCompressAbove)
    return {1, true};
  return {std::clamp<hsize_t>(kChunkBytes / row_bytes, 1, std::max<hsize_t>(rows, 1)), false};
}

// An empty dataset of `width` columns (0: a vector) growing along an unlimited first dimension.
H5Handle growing_dataset(hid_t parent, const char* name, hid_t file_type, hsize_t width, double fill,
                         Layout layout = {}) {
  const int rank = width ? 2 : 1;
  const hsize_t dims[2] = {0, width}, max_dims[2] = {H5S_UNLIMITED, width};
  const hsize_t chunk[2] = {layout.chunk_rows, width};
  H5Handle space = make(H5Screate_simple(rank, dims, max_dims), "H5Screate_simple");
  H5Handle dcpl = make(H5Pcreate(H5P_DATASET_CREATE), "H5Pcreate");
  check_status(H5Pset_chunk(dcpl.get(), rank, chunk), "H5Pset_chunk");
  if (layout.compress) {
    check_status(H5Pset_shuffle(dcpl.get()), "H5Pset_shuffle");
    check_status(H5Pset_deflate(dcpl.get(), kDeflateLevel), "H5Pset_deflate");
  }
  check_status(H5Pset_fill_value(dcpl.get(), H5T_NATIVE_DOUBLE, &fill), "H5Pset_fill_value");
  return make(H5Dcreate2(parent, name, file_type, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT), "H5Dcreate2");
}


// An empty stack of arrays of shape `row` growing along an unlimited first dimension, an array a chunk.
H5Handle growing_stack(hid_t parent, const char* name, hid_t file_type, const std::vector<hsize_t>& row) {
  std::vector<hsize_t> dims{0}, max_dims{H5S_UNLIMITED}, chunk{1};
  for (hsize_t extent : row) {
    dims.push_back(extent);
    max_dims.push_back(extent);
    chunk.push_back(extent);
  }
  // HDF5's chunks stay below 4 GiB: an array over 1 GiB (in float64) is cut along its first axis.
  hsize_t chunk_bytes = 8;
  for (std::size_t i = 2; i < chunk.size(); ++i) chunk_bytes *= chunk[i];
  if (chunk.size() > 1) chunk[1] = std::clamp<hsize_t>((4096 * kChunkBytes) / chunk_bytes, 1, chunk[1]);
  const auto rank = static_cast<int>(dims.size());
  H5Handle space = make(H5Screate_simple(rank, dims.data(), max_dims.data()), "H5Screate_simple");
  H5Handle dcpl = make(H5Pcreate(H5P_DATASET_CREATE), "H5Pcreate");
  check_status(H5Pset_chunk(dcpl.get(), rank, chunk.data()), "H5Pset_chunk");
  const double nan = std::numeric_limits<double>::quiet_NaN();
  check_status(H5Pset_fill_value(dcpl.get(), H5T_NATIVE_DOUBLE, &nan), "H5Pset_fill_value");
  return make(H5Dcreate2(parent, name, file_type, space.get(), H5P_DEFAULT, dcpl.get(), H5P_DEFAULT), "H5Dcreate2");
}

// Extends a stack to `index` + 1 arrays and writes `values` (one array, float64) at `index`.
void write_stacked(hid_t dataset, hsize_t index, const std::vector<double>& values) {
  H5Handle space = make(H5Dget_space(dataset), "H5Dget_space");
  const int rank = H5Sget_simple_extent_ndims(space.get());
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr);
  dims[0] = std::max(dims[0], index + 1);
  check_status(H5Dset_extent(dataset, dims.data()), "H5Dset_extent");
  space = make(H5Dget_space(dataset), "H5Dget_space");
  std::vector<hsize_t> start(dims.size(), 0), count = dims;
  start[0] = index;
  count[0] = 1;
  check_status(H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr),
               "H5Sselect_hyperslab");
  const auto length = static_cast<hsize_t>(values.size());
  H5Handle mem = make(H5Screate_simple(1, &length, nullptr), "H5Screate_simple");
  check_status(H5Dwrite(dataset, H5T_NATIVE_DOUBLE, mem.get(), space.get(), H5P_DEFAULT, values.data()), "H5Dwrite");
}

H5Handle epoch_scale(hid_t group, const char* name = "epoch") {
  H5Handle ds = growing_dataset(group, name, H5T_STD_I64LE, 0, 0.0);
  check_status(H5DSset_scale(ds.get(), name), "H5DSset_scale");
  return ds;
}

// runs/<run>/snapshots/ (SPEC §6): a stack per snapshotted tensor in the working precision, the
// gradient's singular vectors in float64, the epoch and index scales attached to every axis.
void create_snapshots(hid_t run_group, const Config& c, hid_t work_type) {
  H5Handle g = make(H5Gcreate2(run_group, "snapshots", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "H5Gcreate2");
  H5Handle epoch = epoch_scale(g.get(), "epoch");
  const auto k = static_cast<hsize_t>(c.k), d = static_cast<hsize_t>(c.d), r = static_cast<hsize_t>(c.snapshot_rank);
  H5Handle neuron = index_scale(g.get(), "neuron_index", k), input = index_scale(g.get(), "input_index", d),
           vector = index_scale(g.get(), "vector_index", r);
  const RunExtents extents = run_extents(c);
  auto scale_of = [&](Extent e) { return e == Extent::k ? neuron.get() : input.get(); };
  auto stack = [&](const char* name, hid_t type, std::vector<std::pair<hsize_t, hid_t>> axes, const char* meaning) {
    std::vector<hsize_t> row;
    for (const auto& axis : axes) row.push_back(axis.first);
    H5Handle ds = growing_stack(g.get(), name, type, row);
    check_status(H5DSattach_scale(ds.get(), epoch.get(), 0), "H5DSattach_scale");
    for (std::size_t i = 0; i < axes.size(); ++i)
      check_status(H5DSattach_scale(ds.get(), axes[i].second, static_cast<unsigned>(i + 1)), "H5DSattach_scale");
    describe(ds.get(), meaning, "1", "W_t");
  };
  for (const RunTensorInfo& t : kRunTensors) {
    if (!t.snapshot_name) continue;
    std::vector<std::pair<hsize_t, hid_t>> axes;
    for (Extent e : {t.rows, t.cols})
      if (e != Extent::one) axes.emplace_back(static_cast<hsize_t>(extents.of(e)), scale_of(e));
    stack(t.snapshot_name, work_type, axes, t.meaning);
  }
  stack("grad_left", H5T_IEEE_F64LE, {{r, vector.get()}, {k, neuron.get()}},
        "the gradient's top left singular vectors u_i, a row each, the sign of each pair (u_i, v_i) as grad_right's");
  stack("grad_right", H5T_IEEE_F64LE, {{r, vector.get()}, {d, input.get()}},
        "the gradient's top right singular vectors v_i, a row each: v_1 with grad_top_right_vector's sign (following "
        "v_(t-1)), the others with their largest entry positive");
}




void write_inputs(hid_t parent, const Inputs& in, hid_t file_type) {
  H5Handle g = make(H5Gcreate2(parent, in.name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "H5Gcreate2");
  attr_string(g.get(), "teacher", in.spec.teacher_name());
  attr_string(g.get(), "beta_init", to_string(in.spec.beta_init));
  // Where a tensor taken from a file came from: <name>_source, and <name>_epoch for a stack's.
  for (std::size_t t = 0; t < in.spec.from_file.size(); ++t) {
    const TensorFromFile& f = in.spec.from_file[t];
    if (f.source.empty()) continue;
    attr_string(g.get(), (std::string(kInputsTensorNames[t]) + "_source").c_str(), f.source);
    if (f.epoch >= 0) attr_number(g.get(), (std::string(kInputsTensorNames[t]) + "_epoch").c_str(), f.epoch);
  }
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
      {"W0", in.W0, {k, d}},           {"beta_2", in.beta_2, {d}},         {"beta_3", in.beta_3, {d}},
  };
  // HDF5 converts the float64 draws to the file type, which is the working precision: the
  // file holds exactly what the runs trained on. (β₂, β₃: the triple-index teacher's only.)
  for (const auto& a : arrays)
    if (!a.data.empty()) fixed_dataset(g.get(), a.name, file_type, H5T_NATIVE_DOUBLE, a.data.data(), a.dims);
}

void set_rows(hid_t file, const std::string& name, hsize_t rows) {
  H5Handle ds = make(H5Dopen2(file, name.c_str(), H5P_DEFAULT), "H5Dopen2");
  H5Handle space = make(H5Dget_space(ds.get()), "H5Dget_space");
  hsize_t dims[3] = {0, 0, 0};  // a series' rows, or a snapshot stack's arrays
  H5Sget_simple_extent_dims(space.get(), dims, nullptr);
  dims[0] = std::min(dims[0], rows);
  check_status(H5Dset_extent(ds.get(), dims), "H5Dset_extent");
}

}  // namespace

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
  attr_number(root, "checkpoint_every", header.checkpoint_every);
  status_dataset(root, "status", "running");
  scalar_dataset(root, "peak_host_bytes", H5T_NATIVE_INT64, std::int64_t{-1});
  scalar_dataset(root, "peak_device_bytes", H5T_NATIVE_INT64, std::int64_t{-1});

  H5Handle inputs_group = make(H5Gcreate2(root, "inputs", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "H5Gcreate2");
  for (const auto& in : inputs) write_inputs(inputs_group.get(), in, work_type);

  const auto d = static_cast<hsize_t>(config.d), k = static_cast<hsize_t>(config.k),
             s = static_cast<hsize_t>(config.singular_count());
  const std::size_t work_bytes = config.precision == Precision::float32 ? 4 : 8;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  H5Handle runs_group = make(H5Gcreate2(root, "runs", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "H5Gcreate2");
  for (const auto& run : config.runs) {
    H5Handle group =
        make(H5Gcreate2(runs_group.get(), run.name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "H5Gcreate2");
    const hid_t g = group.get();
    attr_string(g, "inputs", run.inputs);
    attr_string(g, "activation", to_string(run.activation));
    attr_string(g, "loss", to_string(config.loss));
    attr_number(g, "gamma", run.gamma);
    attr_number(g, "lr", run.lr);
    attr_number(g, "epochs", run.epochs);
    attr_string(g, "a_init", to_string(config.a_init));
    attr_string(g, "w_init", to_string(config.w_init));
    attr_number(g, "normalize_rows", static_cast<std::int64_t>(run.normalize_rows));
    attr_number(g, "k", config.k);
    attr_number(g, "d", config.d);
    attr_number(g, "n", config.n);
    if (!run.cell.empty()) attr_string(g, "cell", run.cell);
    if (run.gamma_nb) attr_number(g, "gamma_nb", *run.gamma_nb);
    if (run.lr_nb) attr_number(g, "lr_nb", *run.lr_nb);
    if (run.weight_decay > 0) attr_number(g, "weight_decay", run.weight_decay);
    if (run.gradient_penalty > 0) attr_number(g, "gradient_penalty", run.gradient_penalty);
    // The optimiser, where it is not gd (whose files stay as they were: no attribute is gd), with
    // the values that apply to it.
    if (const OptimizerSpec& o = run.optimizer; o.kind != OptimizerKind::gd) {
      attr_string(g, "optimizer", to_string(o.kind));
      attr_number(g, "steps_per_epoch", std::int64_t{1});
      if (o.kind == OptimizerKind::momentum) {
        attr_number(g, "momentum", o.momentum);
        attr_number(g, "nesterov", static_cast<std::int64_t>(o.nesterov));
      }
      if (o.adam()) {
        attr_number(g, "beta1", o.beta1);
        attr_number(g, "beta2", o.beta2);
        attr_number(g, "eps", o.eps);
      }
      if (o.kind == OptimizerKind::adamw) attr_number(g, "decoupled_weight_decay", o.decoupled_weight_decay);
    }

    status_dataset(g, "status", "running");
    scalar_dataset(g, "diverged_epoch", H5T_NATIVE_INT64, std::int64_t{-1});
    scalar_dataset(g, "refit_test_mse", H5T_NATIVE_DOUBLE, nan);
    if (config.snapshot_every > 0) create_snapshots(g, config, work_type);
    H5Handle epoch = epoch_scale(g);
    // With output.heavy_every > 1 the spectrum and the vector have an epoch coordinate of their own.
    H5Handle spectrum_epoch = config.heavy_every > 1 ? epoch_scale(g, "spectrum_epoch") : H5Handle();
    H5Handle singular_index = index_scale(g, "singular_index", s);
    H5Handle input_index = index_scale(g, "input_index", d);
    H5Handle neuron_index = index_scale(g, "neuron_index", k);
    const std::vector<double> no_refit(k, nan);
    fixed_dataset(g, "refit_a", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, no_refit.data(), {k});
    {
      H5Handle refit_a = make(H5Dopen2(g, "refit_a", H5P_DEFAULT), "H5Dopen2");
      describe(refit_a.get(),
               "the refit readout a* = pinv(gamma sigma(X W^T)) y at the run's last weights, NaN until refit", "1",
               "W_E");
      check_status(H5DSattach_scale(refit_a.get(), neuron_index.get(), 0), "H5DSattach_scale");
    }
    const auto heavy_rows = static_cast<hsize_t>((run.rows() + config.heavy_every - 1) / config.heavy_every);
    for (const auto& series : kSeries) {
      if (!recorded(series, config)) continue;
      const auto width = static_cast<hsize_t>(series_width(series, config));
      H5Handle ds = growing_dataset(g, series.name, width ? work_type : H5T_IEEE_F64LE, width, nan,
                                    layout_for(heavy_rows, width, work_bytes));
      const bool own_epoch = is_heavy(series) && config.heavy_every > 1;
      check_status(H5DSattach_scale(ds.get(), (own_epoch ? spectrum_epoch : epoch).get(), 0), "H5DSattach_scale");
      describe(ds.get(), series.meaning, series.units, taken_at_text(series.taken_at));
      const H5Handle& index = series.shape == SeriesShape::spectrum ? singular_index
                              : series.shape == SeriesShape::vector ? input_index
                                                                    : neuron_index;
      if (width) check_status(H5DSattach_scale(ds.get(), index.get(), 1), "H5DSattach_scale");
    }
  }

  H5Handle pairs_group = make(H5Gcreate2(root, "pairs", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "H5Gcreate2");
  for (const auto& pair : config.pairs) {
    H5Handle group = make(H5Gcreate2(pairs_group.get(), pair.name().c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                          "H5Gcreate2");
    attr_string(group.get(), "run_a", pair.a);
    attr_string(group.get(), "run_b", pair.b);
    H5Handle epoch = epoch_scale(group.get());
    H5Handle angle = growing_dataset(group.get(), "pair_mean_angle_deg", H5T_IEEE_F64LE, 0, nan);
    describe(angle.get(), "mean principal angle between the column spaces of the two runs' W", "degree", "W_(t+1)");
    check_status(H5DSattach_scale(angle.get(), epoch.get(), 0), "H5DSattach_scale");
  }

  // Checkpoints for --resume: per side-by-side group, two slots, each valid once its epoch is set
  // (none with checkpoint_every = 0: at large sizes the slots are GiBs).
  const auto groups = side_by_side_groups(config);
  H5Handle checkpoints;
  if (header.checkpoint_every > 0)
    checkpoints = make(H5Gcreate2(root, "checkpoints", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), "H5Gcreate2");
  for (std::size_t i = 0; header.checkpoint_every > 0 && i < groups.size(); ++i) {
    H5Handle g = make(H5Gcreate2(checkpoints.get(), ("group" + std::to_string(i)).c_str(), H5P_DEFAULT, H5P_DEFAULT,
                                 H5P_DEFAULT),
                      "H5Gcreate2");
    const hsize_t runs = groups[i].size();
    const RunExtents extents = run_extents(config);
    for (RunTensor t : checkpointed_tensors(config))
      zero_dataset(g.get(), info(t).name, work_type,
                   {2, runs, static_cast<hsize_t>(extents.rows(info(t))), static_cast<hsize_t>(extents.cols(info(t)))});
    const std::int64_t none[2] = {-1, -1};
    fixed_dataset(g.get(), "epoch", H5T_STD_I64LE, H5T_NATIVE_INT64, none, {2});
  }
  attach(config);

  check_status(H5Fflush(root, H5F_SCOPE_GLOBAL), "H5Fflush");
  check_status(H5Fstart_swmr_write(root), "H5Fstart_swmr_write");
}

H5Writer::~H5Writer() = default;

void H5Writer::attach(const Config& config) {
  const hid_t root = file_.get();
  auto open = [&](hid_t parent, const std::string& name) {
    return make(H5Dopen2(parent, name.c_str(), H5P_DEFAULT), "H5Dopen2");
  };
  auto series = [&](hid_t parent, const char* name) {
    Series s{open(parent, name), 0};
    H5Handle space = make(H5Dget_space(s.dataset.get()), "H5Dget_space");
    hsize_t dims[2] = {0, 0};
    if (H5Sget_simple_extent_ndims(space.get()) == 2) {
      H5Sget_simple_extent_dims(space.get(), dims, nullptr);
      s.width = dims[1];
    }
    return s;
  };
  status_ = open(root, "status");
  heavy_every_ = config.heavy_every;
  snapshot_every_ = config.snapshot_every;
  if (exists(root, "peak_host_bytes")) {
    peak_host_ = open(root, "peak_host_bytes");
    peak_device_ = open(root, "peak_device_bytes");
  }
  runs_.clear();
  for (const auto& run : config.runs) {
    RunObjects r;
    r.group = make(H5Gopen2(root, ("runs/" + run.name).c_str(), H5P_DEFAULT), "H5Gopen2");
    const hid_t g = r.group.get();
    r.status = open(g, "status");
    r.diverged_epoch = open(g, "diverged_epoch");
    r.refit = open(g, "refit_test_mse");
    r.refit_a = open(g, "refit_a");
    if (config.snapshot_every > 0) {
      r.snapshots.epoch = series(g, "snapshots/epoch");
      for (const RunTensorInfo& t : kRunTensors)
        r.snapshots.tensors.push_back(t.snapshot_name ? open(g, std::string("snapshots/") + t.snapshot_name) : H5Handle());
      r.snapshots.grad_left = open(g, "snapshots/grad_left");
      r.snapshots.grad_right = open(g, "snapshots/grad_right");
    }
    r.epoch = series(g, "epoch");
    if (config.heavy_every > 1) r.spectrum_epoch = series(g, "spectrum_epoch");
    for (const auto& s : kSeries) r.series.push_back(recorded(s, config) ? series(g, s.name) : Series{});
    runs_.push_back(std::move(r));
  }
  pairs_.clear();
  for (const auto& pair : config.pairs) {
    PairObjects p;
    p.group = make(H5Gopen2(root, ("pairs/" + pair.name()).c_str(), H5P_DEFAULT), "H5Gopen2");
    p.epoch = series(p.group.get(), "epoch");
    p.angle = series(p.group.get(), "pair_mean_angle_deg");
    pairs_.push_back(std::move(p));
  }
  checkpoints_.clear();
  for (std::size_t i = 0; exists(root, "checkpoints") && i < side_by_side_groups(config).size(); ++i) {
    const std::string g = "checkpoints/group" + std::to_string(i) + "/";
    CheckpointObjects c;
    for (RunTensor t : checkpointed_tensors(config)) c.tensors.push_back(open(root, g + info(t).name));
    c.epoch = open(root, g + "epoch");
    checkpoints_.push_back(std::move(c));
  }
}

void H5Writer::write_checkpoint(std::size_t group, int slot, std::int64_t epoch,
                                const std::vector<CheckpointedValues>& state) {
  CheckpointObjects& c = checkpoints_.at(group);
  for (std::size_t tensor = 0; tensor < c.tensors.size(); ++tensor) {
    const hid_t dataset = c.tensors[tensor].get();
    H5Handle space = make(H5Dget_space(dataset), "H5Dget_space");
    hsize_t dims[4];
    H5Sget_simple_extent_dims(space.get(), dims, nullptr);
    for (std::size_t r = 0; r < state.size(); ++r) {
      const hsize_t start[4] = {static_cast<hsize_t>(slot), r, 0, 0}, count[4] = {1, 1, dims[2], dims[3]};
      check_status(H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, start, nullptr, count, nullptr),
                   "H5Sselect_hyperslab");
      const hsize_t length = dims[2] * dims[3];
      if (state[r].at(tensor).size() != length)
        throw std::logic_error("write_checkpoint: a tensor of " + std::to_string(state[r].at(tensor).size()) +
                               " values for a slot of " + std::to_string(length));
      H5Handle mem = make(H5Screate_simple(1, &length, nullptr), "H5Screate_simple");
      check_status(H5Dwrite(dataset, H5T_NATIVE_DOUBLE, mem.get(), space.get(), H5P_DEFAULT, state[r].at(tensor).data()),
                   "H5Dwrite");
    }
  }
  flush();  // the data is on disk before the epoch that makes the slot valid
  H5Handle space = make(H5Dget_space(c.epoch.get()), "H5Dget_space");
  const hsize_t start = static_cast<hsize_t>(slot), one = 1;
  check_status(H5Sselect_hyperslab(space.get(), H5S_SELECT_SET, &start, nullptr, &one, nullptr), "H5Sselect_hyperslab");
  H5Handle mem = make(H5Screate_simple(1, &one, nullptr), "H5Screate_simple");
  check_status(H5Dwrite(c.epoch.get(), H5T_NATIVE_INT64, mem.get(), space.get(), H5P_DEFAULT, &epoch), "H5Dwrite");
  flush();
}

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
  // The spectrum and the vector come every heavy_every-th epoch, each into row epoch / heavy_every.
  const bool heavy = !rec.singular_values.empty();
  const std::int64_t heavy_row = epoch / heavy_every_;
  for (std::size_t i = 0; i < r.series.size(); ++i) {
    const SeriesInfo& info = kSeries[i];
    if (r.series[i].dataset.get() < 0) continue;  // not recorded for this run
    if (!is_heavy(info)) {
      append_row(r.series[i], epoch, &(rec.*info.scalar));
    } else if (heavy) {
      append_row(r.series[i], heavy_row, (rec.*info.row).data());
    }
  }
  const double e = static_cast<double>(epoch);
  append_row(r.epoch, epoch, &e);
  if (heavy && heavy_every_ > 1) append_row(r.spectrum_epoch, heavy_row, &e);
  flush();
}

void H5Writer::append_pair(std::size_t pair, std::int64_t epoch, double angle) {
  PairObjects& p = pairs_.at(pair);
  const double e = static_cast<double>(epoch);
  append_row(p.angle, epoch, &angle);
  append_row(p.epoch, epoch, &e);
  flush();
}

void H5Writer::set_refit(std::size_t run, double value, const std::vector<double>& refit_a) {
  check_status(H5Dwrite(runs_.at(run).refit.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, &value),
               "H5Dwrite");
  check_status(H5Dwrite(runs_.at(run).refit_a.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, refit_a.data()),
               "H5Dwrite");
  flush();
}

void H5Writer::append_snapshot(std::size_t run, const Snapshot& snap) {
  SnapshotObjects& s = runs_.at(run).snapshots;
  const auto row = static_cast<hsize_t>(snapshot_row(snap.epoch, snapshot_every_));
  for (std::size_t i = 0; i < kRunTensorCount; ++i)
    if (kRunTensors[i].snapshot_name) write_stacked(s.tensors[i].get(), row, snap.tensors[i]);
  write_stacked(s.grad_left.get(), row, snap.grad_left);
  write_stacked(s.grad_right.get(), row, snap.grad_right);
  const double e = static_cast<double>(snap.epoch);
  append_row(s.epoch, static_cast<std::int64_t>(row), &e);  // last: a reader sees the row once it is whole
  flush();
}

void H5Writer::set_run_status(std::size_t run, const std::string& status, std::int64_t diverged_epoch) {
  RunObjects& r = runs_.at(run);
  write_status(r.status.get(), status);
  check_status(H5Dwrite(r.diverged_epoch.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, &diverged_epoch),
               "H5Dwrite");
  flush();
}

void H5Writer::set_peak_memory(double host_bytes, double device_bytes) {
  if (peak_host_.get() < 0) return;  // a file from before these were recorded
  // A resumed file keeps the larger of its earlier processes' peaks and this one's.
  for (auto [dataset, bytes] : {std::pair{peak_host_.get(), host_bytes}, std::pair{peak_device_.get(), device_bytes}}) {
    std::int64_t value = 0;
    check_status(H5Dread(dataset, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, &value), "H5Dread");
    value = std::max(value, static_cast<std::int64_t>(bytes));
    check_status(H5Dwrite(dataset, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, &value), "H5Dwrite");
  }
  flush();
}

void H5Writer::set_status(const std::string& status) {
  write_status(status_.get(), status);
  flush();
}

void H5Writer::flush() { check_status(H5Fflush(file_.get(), H5F_SCOPE_LOCAL), "H5Fflush"); }

H5Writer::H5Writer(const std::string& path, const ResumePlan& plan, const std::string& resumed_by) {
  H5Handle fapl = make(H5Pcreate(H5P_FILE_ACCESS), "H5Pcreate");
  check_status(H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_LATEST, H5F_LIBVER_LATEST), "H5Pset_libver_bounds");
  file_ = make(H5Fopen(path.c_str(), H5F_ACC_RDWR, fapl.get()), "H5Fopen");
  const hid_t f = file_.get();
  const Config& config = plan.config;
  attach(config);  // every object opened before the first is changed
  const auto groups = side_by_side_groups(config);
  for (std::size_t i = 0; i < groups.size(); ++i) {
    const auto at = static_cast<hsize_t>(plan.groups[i].epoch);
    for (std::size_t run : groups[i]) {
      if (plan.finished(run, i)) continue;
      const std::string g = "runs/" + config.runs[run].name + "/";
      const auto every = static_cast<hsize_t>(config.heavy_every), heavy_at = (at + every - 1) / every;
      for (const auto& s : kSeries)
        if (recorded(s, config)) set_rows(f, g + s.name, is_heavy(s) ? heavy_at : at);
      set_rows(f, g + "epoch", at);
      if (every > 1) set_rows(f, g + "spectrum_epoch", heavy_at);
      if (config.snapshot_every > 0) {  // the snapshots taken before the checkpoint stay
        const auto kept = static_cast<hsize_t>(snapshot_row(plan.groups[i].epoch, config.snapshot_every));
        for (const RunTensorInfo& t : kRunTensors)
          if (t.snapshot_name) set_rows(f, g + "snapshots/" + t.snapshot_name, kept);
        for (const char* name : {"grad_left", "grad_right", "epoch"}) set_rows(f, g + "snapshots/" + name, kept);
      }
    }
    for (const auto& pair : config.pairs)
      if (std::any_of(groups[i].begin(), groups[i].end(), [&](std::size_t r) { return config.runs[r].name == pair.a; })) {
        set_rows(f, "pairs/" + pair.name() + "/pair_mean_angle_deg", at);
        set_rows(f, "pairs/" + pair.name() + "/epoch", at);
      }
  }
  const double nan = std::numeric_limits<double>::quiet_NaN();
  for (std::size_t i = 0; i < groups.size(); ++i)
    for (std::size_t run : groups[i])
      if (!plan.finished(run, i)) {
        write_status(runs_[run].status.get(), "running");
        const std::int64_t none = -1;
        check_status(H5Dwrite(runs_[run].diverged_epoch.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, &none),
                     "H5Dwrite");
        check_status(H5Dwrite(runs_[run].refit.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, &nan),
                     "H5Dwrite");
        const std::vector<double> no_refit(static_cast<std::size_t>(config.k), nan);
        check_status(H5Dwrite(runs_[run].refit_a.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, no_refit.data()),
                     "H5Dwrite");
      }
  write_status(status_.get(), "running");
  if (H5Aexists(f, "resumed") > 0) check_status(H5Adelete(f, "resumed"), "H5Adelete");
  attr_string(f, "resumed", plan.resumed + (plan.resumed.empty() ? "" : "\n") + resumed_by);
  check_status(H5Fflush(f, H5F_SCOPE_GLOBAL), "H5Fflush");
  check_status(H5Fstart_swmr_write(f), "H5Fstart_swmr_write");
}

}  // namespace lowrank
