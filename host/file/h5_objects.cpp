#include "h5_objects.hpp"

#include <chrono>
#include <ctime>
#include <stdexcept>
#include <type_traits>

#include <hdf5_hl.h>

namespace lowrank {

std::recursive_mutex& hdf5_mutex() {
  static std::recursive_mutex mutex;
  return mutex;
}

hid_t check(hid_t id, const char* call) {
  if (id < 0) throw std::runtime_error(std::string("HDF5: ") + call + " failed");
  return id;
}

void check_status(herr_t status, const char* call) {
  if (status < 0) throw std::runtime_error(std::string("HDF5: ") + call + " failed");
}

H5Handle make(hid_t id, const char* call) { return H5Handle(check(id, call)); }

bool exists(hid_t location, const std::string& path) {
  htri_t found = 0;
  H5E_BEGIN_TRY { found = H5Lexists(location, path.c_str(), H5P_DEFAULT); }
  H5E_END_TRY;
  return found > 0;
}

void attr_string(hid_t object, const char* name, const std::string& value) {
  H5Handle type = make(H5Tcopy(H5T_C_S1), "H5Tcopy");
  check_status(H5Tset_size(type.get(), H5T_VARIABLE), "H5Tset_size");
  check_status(H5Tset_cset(type.get(), H5T_CSET_UTF8), "H5Tset_cset");
  H5Handle space = make(H5Screate(H5S_SCALAR), "H5Screate");
  H5Handle attr = make(H5Acreate2(object, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), "H5Acreate2");
  const char* text = value.c_str();
  check_status(H5Awrite(attr.get(), type.get(), &text), "H5Awrite");
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

template void attr_number<double>(hid_t, const char*, double);
template void attr_number<std::int64_t>(hid_t, const char*, std::int64_t);

// A scalar fixed-length string dataset: SWMR writers may rewrite it, unlike an attribute.
H5Handle status_dataset(hid_t parent, const char* name, const std::string& value) {
  H5Handle type = status_type();
  H5Handle space = make(H5Screate(H5S_SCALAR), "H5Screate");
  H5Handle ds = make(H5Dcreate2(parent, name, type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                     "H5Dcreate2");
  write_status(ds.get(), value);
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

// A coordinate 0…size−1 made an HDF5 dimension scale.
H5Handle index_scale(hid_t group, const char* name, hsize_t size) {
  std::vector<std::int64_t> values(size);
  for (hsize_t i = 0; i < size; ++i) values[i] = static_cast<std::int64_t>(i);
  fixed_dataset(group, name, H5T_STD_I64LE, H5T_NATIVE_INT64, values.data(), {size});
  H5Handle ds = make(H5Dopen2(group, name, H5P_DEFAULT), "H5Dopen2");
  check_status(H5DSset_scale(ds.get(), name), "H5DSset_scale");
  return ds;
}

// The netCDF-style attributes that xarray shows: what a series is, its unit, and the weights it
// is taken at.
void describe(hid_t dataset, const char* meaning, const char* units, const char* taken_at) {
  attr_string(dataset, "long_name", meaning);
  attr_string(dataset, "units", units);
  attr_string(dataset, "taken_at", taken_at);
}

std::string utc_now() {
  const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&now, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}


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

}  // namespace lowrank
