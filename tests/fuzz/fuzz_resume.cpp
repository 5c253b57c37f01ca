// libFuzzer target: the resume's file reader. An input is a list of edits, applied with the HDF5
// API to a fresh copy of a real engine file (three runs: a pair stopped mid-way with two
// checkpoints, and a lone run that completed): deleting an object, re-making a dataset with
// another type or shape, resizing, writing a value, linking a name to another object, replacing
// a dataset by a group, rewriting a root attribute or a character of the configuration. The
// resume must then refuse the file with a ConfigError, or accept it, draw its inputs and reopen
// it for writing without any other error. (The bytes of the HDF5 format itself are HDF5's own
// parser's to check: edits keep the format valid.)
#include <hdf5.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "config.hpp"
#include "driver.hpp"
#include "h5_writer.hpp"
#include "inputs.hpp"
#include "resume.hpp"

namespace {

using namespace lowrank;

constexpr const char* kConfig = R"(experiment = "fuzz"
seed = 7
epochs = 6
pairs = [["a", "b"]]
[data]
n = 6
d = 5
nu = 0.25
[model]
k = 4
[output]
heavy_every = 2
[[runs]]
name = "a"
gamma = 1.0
lr = 1.0
[[runs]]
name = "b"
gamma = 0.5
lr = 2.0
[[runs]]
name = "c"
epochs = 3
activation = "relu"
gamma = 1.0
lr = 1.0
)";
constexpr const char* kRootAttributes[] = {"format", "config", "device", "resumed", "checkpoint_every"};
// Characters a configuration edit puts in: digits, signs and TOML's punctuation.
constexpr char kConfigCharacters[] = "0123456789-+.eE_ \n=\"'[]{},#ainf";
constexpr int kMaxEdits = 8;
constexpr hsize_t kMaxExtent = 8;  // of a re-made dataset's dimensions
// Rows an edit may give a dataset: far past any epoch count here, yet few enough that HDF5, which
// visits every chunk when it cuts a dataset, cuts it back in well under a second.
constexpr hsize_t kMaxRowsAdded = hsize_t{1} << 22;

std::string base_bytes, work_path;
std::vector<std::string> object_paths;  // every group and dataset of the base file

[[noreturn]] void fail_setup(const char* what) {
  std::fprintf(stderr, "fuzz_resume set-up: %s\n", what);
  std::abort();
}

EpochRecord record(const Config& c, std::int64_t epoch) {
  EpochRecord r;
  r.train_mse = 1.0 / double(epoch + 1);
  r.test_mse = r.w_opnorm = r.energy = r.align_data = r.align_residue = r.align_initial = 0.5;
  r.align_residue_step = r.align_data_v2 = r.align_residue_v2 = r.epoch_seconds = 0.25;
  if (epoch % c.heavy_every == 0) {
    r.singular_values.assign(static_cast<std::size_t>(c.singular_count()), 1.0);
    r.top_right_vector.assign(static_cast<std::size_t>(c.d), 0.5);
  }
  return r;
}

// Writes the base file: runs a and b (a pair, group 0) stopped after 5 of 6 epochs with
// checkpoints at epochs 2 and 4; run c (group 1) complete after 3 epochs, checkpointed at 3.
void write_base(const std::string& path) {
  const Config c = parse_config(kConfig, "fuzz base", {});
  std::vector<Inputs> inputs;
  for (const auto& spec : c.inputs) inputs.push_back(make_inputs(c, spec));
  H5Writer w(path, FileHeader{"fuzz", "fuzz_resume", "cpu", 2}, c, inputs);
  // Every checkpointed tensor of `runs` runs, filled with 0.25.
  auto state = [&](std::size_t runs) {
    const RunExtents extents = run_extents(c);
    CheckpointedValues one;
    for (RunTensor t : checkpointed_tensors(c))
      one.emplace_back(static_cast<std::size_t>(extents.size(info(t))), 0.25);
    return std::vector<CheckpointedValues>(runs, one);
  };
  for (std::int64_t e = 0; e < 5; ++e) {
    w.append_epoch(0, e, record(c, e));
    w.append_epoch(1, e, record(c, e));
    w.append_pair(0, e, 10.0);
    if (e == 1 || e == 3) w.write_checkpoint(0, e == 1 ? 0 : 1, e + 1, state(2));
  }
  for (std::int64_t e = 0; e < 3; ++e) w.append_epoch(2, e, record(c, e));
  w.set_refit(2, 0.75, std::vector<double>(static_cast<std::size_t>(c.k), 0.5));
  w.set_run_status(2, "complete");
  w.write_checkpoint(1, 0, 3, state(1));
  w.set_run_status(0, "interrupted");
  w.set_run_status(1, "interrupted");
  w.set_peak_memory(1 << 20, 0);
  w.set_status("interrupted");
}

herr_t collect(hid_t, const char* name, const H5O_info_t*, void*) {
  if (std::strcmp(name, ".") != 0) object_paths.emplace_back(name);
  return 0;
}

// The fuzzer's bytes, read as edits; zeros once they run out.
class Bytes {
 public:
  Bytes(const std::uint8_t* data, std::size_t size) : data_(data), size_(size) {}
  bool empty() const { return size_ == 0; }
  std::uint8_t byte() {
    if (size_ == 0) return 0;
    --size_;
    return *data_++;
  }
  std::int64_t int64() {
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | byte();
    return static_cast<std::int64_t>(v);
  }
  std::string text(std::size_t most) {
    std::string s;
    for (std::size_t n = byte() % (most + 1); n > 0 && !empty(); --n) s += static_cast<char>(byte());
    return s;
  }
  template <typename T>
  const T& pick(const std::vector<T>& from) {
    return from[byte() % from.size()];
  }

 private:
  const std::uint8_t* data_;
  std::size_t size_;
};

void set_string_attribute(hid_t f, const char* name, const std::string& value) {
  H5Adelete(f, name);
  const hid_t type = H5Tcopy(H5T_C_S1);
  H5Tset_size(type, H5T_VARIABLE);
  const hid_t space = H5Screate(H5S_SCALAR);
  const hid_t attr = H5Acreate2(f, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
  const char* text = value.c_str();
  H5Awrite(attr, type, &text);
  H5Aclose(attr);
  H5Sclose(space);
  H5Tclose(type);
}

std::string string_attribute(hid_t f, const char* name) {
  std::string out;
  const hid_t attr = H5Aopen(f, name, H5P_DEFAULT);
  const hid_t type = H5Aget_type(attr);
  char* text = nullptr;
  if (H5Tis_variable_str(type) > 0 && H5Aread(attr, type, &text) >= 0 && text) out = text;
  H5free_memory(text);
  H5Tclose(type);
  H5Aclose(attr);
  return out;
}

// A dataset of another class and shape in place of `path`.
void remake_dataset(hid_t f, const std::string& path, Bytes& in) {
  H5Ldelete(f, path.c_str(), H5P_DEFAULT);
  const int rank = in.byte() % 4;
  const bool growing = rank > 0 && in.byte() % 2;
  hsize_t dims[3], max_dims[3];
  for (int i = 0; i < rank; ++i) dims[i] = max_dims[i] = in.byte() % (kMaxExtent + 1);
  if (growing) max_dims[0] = H5S_UNLIMITED;
  const hid_t space = rank ? H5Screate_simple(rank, dims, max_dims) : H5Screate(H5S_SCALAR);
  const hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  if (growing) {
    hsize_t chunk[3] = {1, 1, 1};
    for (int i = 1; i < rank; ++i) chunk[i] = dims[i] ? dims[i] : 1;
    H5Pset_chunk(dcpl, rank, chunk);
  }
  hid_t type = -1;
  switch (in.byte() % 3) {
    case 0: type = H5Tcopy(H5T_IEEE_F64LE); break;
    case 1: type = H5Tcopy(H5T_STD_I64LE); break;
    default:
      type = H5Tcopy(H5T_C_S1);
      H5Tset_size(type, 32);
  }
  H5Dclose(H5Dcreate2(f, path.c_str(), type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT));
  H5Tclose(type);
  H5Pclose(dcpl);
  H5Sclose(space);
}

// One edit of the copy, chosen and shaped by the fuzzer's bytes; HDF5 refusing it is no matter.
void edit(hid_t f, Bytes& in) {
  const std::string& path = in.pick(object_paths);
  switch (in.byte() % 8) {
    case 0: H5Ldelete(f, path.c_str(), H5P_DEFAULT); break;
    case 1: {  // a growing dataset cut or extended
      const hid_t ds = H5Dopen2(f, path.c_str(), H5P_DEFAULT);
      const hid_t space = H5Dget_space(ds);
      hsize_t dims[4] = {0, 0, 0, 0};
      if (H5Sget_simple_extent_ndims(space) > 0 && H5Sget_simple_extent_ndims(space) <= 4) {
        H5Sget_simple_extent_dims(space, dims, nullptr);
        dims[0] = in.byte() % 2 ? in.byte() % 16 : static_cast<hsize_t>(in.int64()) % kMaxRowsAdded;
        H5Dset_extent(ds, dims);
      }
      H5Sclose(space);
      H5Dclose(ds);
      break;
    }
    case 2: {  // one value written over every element of a small dataset, or its first
      const hid_t ds = H5Dopen2(f, path.c_str(), H5P_DEFAULT);
      const hid_t type = H5Dget_type(ds);
      const hid_t space = H5Dget_space(ds);
      const std::int64_t value = in.int64();
      if (H5Sget_simple_extent_npoints(space) == 1 || H5Sget_simple_extent_type(space) == H5S_SCALAR) {
        if (H5Tget_class(type) == H5T_STRING) {
          char text[32] = {};
          const std::string s = in.text(sizeof text);
          std::memcpy(text, s.data(), s.size());
          H5Dwrite(ds, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, text);
        } else {
          H5Dwrite(ds, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, &value);
        }
      } else if (H5Sget_simple_extent_npoints(space) > 1 && H5Tget_class(type) != H5T_STRING) {
        const hsize_t zero[4] = {0, 0, 0, 0}, one[4] = {1, 1, 1, 1};
        const hid_t mem = H5Screate_simple(1, one, nullptr);
        H5Sselect_hyperslab(space, H5S_SELECT_SET, zero, nullptr, one, nullptr);
        double real;
        std::memcpy(&real, &value, sizeof real);  // any bit pattern: NaN, infinities, subnormals
        H5Dwrite(ds, H5T_NATIVE_DOUBLE, mem, space, H5P_DEFAULT, &real);
        H5Sclose(mem);
      }
      H5Sclose(space);
      H5Tclose(type);
      H5Dclose(ds);
      break;
    }
    case 3: {  // a root attribute rewritten: a string, or an integer
      const char* name = kRootAttributes[in.byte() % std::size(kRootAttributes)];
      if (in.byte() % 2) {
        set_string_attribute(f, name, in.text(64));
      } else {
        H5Adelete(f, name);
        const std::int64_t value = in.int64();
        const hid_t space = H5Screate(H5S_SCALAR);
        const hid_t attr = H5Acreate2(f, name, H5T_STD_I64LE, space, H5P_DEFAULT, H5P_DEFAULT);
        H5Awrite(attr, H5T_NATIVE_INT64, &value);
        H5Aclose(attr);
        H5Sclose(space);
      }
      break;
    }
    case 4: {  // a character of the configuration replaced, inserted or removed
      std::string config = string_attribute(f, "config");
      if (config.empty()) break;
      const std::size_t at = static_cast<std::size_t>(in.int64() & 0x7fffffff) % config.size();
      const char c = kConfigCharacters[in.byte() % (sizeof kConfigCharacters - 1)];
      switch (in.byte() % 3) {
        case 0: config[at] = c; break;
        case 1: config.insert(at, 1, c); break;
        default: config.erase(at, 1);
      }
      set_string_attribute(f, "config", config);
      break;
    }
    case 5: remake_dataset(f, path, in); break;
    case 6: {  // the name made a link to another object, or to none
      H5Ldelete(f, path.c_str(), H5P_DEFAULT);
      const std::string target = in.byte() % 4 ? "/" + in.pick(object_paths) : "/nowhere";
      H5Lcreate_soft(target.c_str(), f, path.c_str(), H5P_DEFAULT, H5P_DEFAULT);
      break;
    }
    default:  // an empty group in a dataset's place
      H5Ldelete(f, path.c_str(), H5P_DEFAULT);
      H5Gclose(H5Gcreate2(f, path.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  std::string folder = (access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp") + std::string("/fuzz-resume-XXXXXX");
  if (!mkdtemp(folder.data())) fail_setup("no temporary folder");
  const std::string base = folder + "/base.h5";
  work_path = folder + "/work.h5";
  write_base(base);
  ResumePlan plan = plan_resume(base);  // the unedited file is resumable
  if (plan.groups.at(0).epoch != 4 || !plan.finished(2, 1)) fail_setup("the base file is not read as written");
  std::ifstream in(base, std::ios::binary);
  base_bytes.assign(std::istreambuf_iterator<char>(in), {});
  const hid_t f = H5Fopen(base.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  H5Ovisit2(f, H5_INDEX_NAME, H5_ITER_NATIVE, collect, nullptr, H5O_INFO_BASIC);
  H5Fclose(f);
  if (object_paths.empty()) fail_setup("no objects in the base file");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::ofstream(work_path, std::ios::binary | std::ios::trunc).write(base_bytes.data(),
                                                                    static_cast<std::streamsize>(base_bytes.size()));
  {
    const hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
    const hid_t f = H5Fopen(work_path.c_str(), H5F_ACC_RDWR, fapl);
    Bytes in(data, size);
    for (int n = 0; n < kMaxEdits && !in.empty(); ++n) edit(f, in);
    H5Fclose(f);
    H5Pclose(fapl);
  }
  try {
    lowrank::ResumePlan plan = lowrank::plan_resume(work_path);
    lowrank::draw_resume_inputs(plan, work_path);
    lowrank::clear_writer_flags(work_path);
    lowrank::H5Writer reopened(work_path, plan, "fuzz");  // an accepted file must open for writing
  } catch (const lowrank::ConfigError&) {
    // refused, with a message: what a damaged file should get
  }
  return 0;
}
