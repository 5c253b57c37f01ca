#include "h5_objects.hpp"

#include <stdexcept>

namespace lowrank {

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
