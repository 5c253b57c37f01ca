#include "layout_check.hpp"

namespace lowrank {
namespace {

// The oldest superblock that SWMR writing takes.
constexpr unsigned kSwmrSuperblockVersion = 3;

const char* class_text(H5T_class_t c) {
  switch (c) {
    case H5T_FLOAT: return "floating-point numbers";
    case H5T_INTEGER: return "integers";
    case H5T_STRING: return "a string";
    default: return "another type";
  }
}

// An attribute of one value: its dataspace must hold exactly one (a read fills one slot).
H5Handle scalar_attr(hid_t object, const char* name, H5T_class_t type_class) {
  H5Handle attr = make(H5Aopen(object, name, H5P_DEFAULT), "H5Aopen");
  H5Handle type = make(H5Aget_type(attr.get()), "H5Aget_type");
  H5Handle space = make(H5Aget_space(attr.get()), "H5Aget_space");
  if (H5Tget_class(type.get()) != type_class || H5Sget_simple_extent_type(space.get()) != H5S_SCALAR ||
      (type_class == H5T_STRING && H5Tis_variable_str(type.get()) <= 0))
    throw Damage(std::string("its attribute '") + name + "' is not " +
                 (type_class == H5T_STRING ? "a string" : "an integer"));
  return attr;
}

}  // namespace

std::string dims_text(const std::vector<hsize_t>& dims, bool growing) {
  if (dims.empty()) return "a scalar";
  std::string out;
  for (std::size_t i = 0; i < dims.size(); ++i)
    out += (i ? "×" : "") + (growing && i == 0 ? std::string("E") : std::to_string(dims[i]));
  return out;
}

H5Handle open_for_reading(const std::string& path, const std::string& option) {
  hid_t f = -1;
  H5E_BEGIN_TRY {  // (no return inside: H5E_END_TRY restores the error printing)
    f = H5Fopen(path.c_str(), H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, H5P_DEFAULT);
    if (f < 0) f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  }
  H5E_END_TRY;
  if (f < 0) throw ConfigError(option + " '" + shown(path) + "' is not a readable HDF5 file");
  return H5Handle(f);
}

std::string read_string_attr(hid_t object, const char* name, const std::string& path, const std::string& option) {
  if (H5Aexists(object, name) <= 0)
    throw ConfigError(option + " '" + shown(path) + "' is not a lowrank-engine file (no attribute '" + name + "')");
  H5Handle attr = scalar_attr(object, name, H5T_STRING);
  H5Handle type = make(H5Aget_type(attr.get()), "H5Aget_type");
  H5Handle mem = make(H5Tget_native_type(type.get(), H5T_DIR_DEFAULT), "H5Tget_native_type");
  char* text = nullptr;
  check_status(H5Aread(attr.get(), mem.get(), &text), "H5Aread");
  std::string out = text ? text : "";
  H5free_memory(text);
  return out;
}

std::int64_t read_int_attr(hid_t object, const char* name) {
  H5Handle attr = scalar_attr(object, name, H5T_INTEGER);
  std::int64_t value = 0;
  check_status(H5Aread(attr.get(), H5T_NATIVE_INT64, &value), "H5Aread");
  return value;
}

std::string read_status(hid_t file, const std::string& name) {
  H5Handle ds = make(H5Dopen2(file, name.c_str(), H5P_DEFAULT), "H5Dopen2");
  H5Handle type = status_type();
  std::string text(kStatusLength, '\0');
  check_status(H5Dread(ds.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, text.data()), "H5Dread");
  return text.substr(0, text.find('\0'));
}

void check_swmr_superblock(hid_t file, const std::string& path, const std::string& option) {
  H5F_info2_t info{};
  check_status(H5Fget_info2(file, &info), "H5Fget_info2");
  if (info.super.version < kSwmrSuperblockVersion)
    throw ConfigError(option + " '" + shown(path) + "' was rewritten in an older HDF5 format (superblock version " +
                      std::to_string(info.super.version) +
                      "), which cannot be written while it is read; rewrite it with 'h5repack --latest' first");
}

std::vector<hsize_t> LayoutCheck::dataset(const std::string& name, const Expected& want) {
  H5O_info_t info{};
  herr_t got = -1;
  H5E_BEGIN_TRY {
    if (exists(file_, name)) got = H5Oget_info_by_name2(file_, name.c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT);
  }
  H5E_END_TRY;
  if (got < 0) throw Damage(name + " is missing");
  if (info.type != H5O_TYPE_DATASET) throw Damage(name + " is not a dataset");
  if (!addresses_.insert(info.addr).second) throw Damage(name + " is another name of a dataset checked before");
  H5Handle ds = make(H5Dopen2(file_, name.c_str(), H5P_DEFAULT), "H5Dopen2");
  H5Handle type = make(H5Dget_type(ds.get()), "H5Dget_type");
  const H5T_class_t type_class = H5Tget_class(type.get());
  if (type_class != want.type_class)
    throw Damage(name + " holds " + class_text(type_class) + ", not " + class_text(want.type_class));
  H5Handle space = make(H5Dget_space(ds.get()), "H5Dget_space");
  const H5S_class_t kind = H5Sget_simple_extent_type(space.get());
  const int rank = H5Sget_simple_extent_ndims(space.get());
  std::vector<hsize_t> dims(static_cast<std::size_t>(std::max(rank, 0))), max_dims(dims.size());
  if (rank > 0) H5Sget_simple_extent_dims(space.get(), dims.data(), max_dims.data());
  bool same = (kind == H5S_SCALAR) == want.dims.empty() && kind != H5S_NULL && dims.size() == want.dims.size();
  for (std::size_t i = 0; same && i < dims.size(); ++i) same = (want.growing && i == 0) || dims[i] == want.dims[i];
  if (!same) throw Damage(name + " is " + dims_text(dims) + ", not " + dims_text(want.dims, want.growing));
  if (want.growing && max_dims[0] != H5S_UNLIMITED) throw Damage(name + " cannot grow (its first extent is fixed)");
  return dims;
}

}  // namespace lowrank
