// Reading a file the engine wrote, to check it whole before a byte of it changes (engine
// --resume, engine sweep --resume and --merge): its attributes, and every object a writer will
// open with its type and shape, and no two names for one dataset.
#pragma once

#include <hdf5.h>

#include <algorithm>
#include <cstdint>
#include <iterator>
#include <set>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "config.hpp"
#include "h5_objects.hpp"
#include "paths.hpp"

namespace lowrank {

// What is wrong inside a file; checked_file turns it into a ConfigError naming the file.
struct Damage : std::runtime_error {
  using std::runtime_error::runtime_error;
};

template <std::size_t N>
bool one_of(const std::string& value, const char* const (&allowed)[N]) {
  return std::any_of(std::begin(allowed), std::end(allowed), [&](const char* a) { return value == a; });
}

template <std::size_t N>
std::string listed(const char* const (&names)[N]) {
  std::string out;
  for (const char* name : names) out += (out.empty() ? "" : ", ") + std::string(name);
  return out;
}

// "5×3", "E×30" (E: any number of rows), "a scalar".
std::string dims_text(const std::vector<hsize_t>& dims, bool growing = false);

// Opens a file for reading: in SWMR mode (a file being written, or left by a killed writer), else
// plainly (a file written without SWMR). A ConfigError naming `option` when neither works.
H5Handle open_for_reading(const std::string& path, const std::string& option);

// A scalar string attribute; a ConfigError ("not a lowrank-engine file") when it is missing,
// Damage when it is of another type or shape.
std::string read_string_attr(hid_t object, const char* name, const std::string& path, const std::string& option);
// A scalar integer attribute; Damage when it is of another type or shape.
std::int64_t read_int_attr(hid_t object, const char* name);

// A whole dataset whose extents were checked, as float64 or int64.
template <typename V>
std::vector<V> read_all(hid_t file, const std::string& name) {
  static_assert(std::is_same_v<V, double> || std::is_same_v<V, std::int64_t>);
  H5Handle ds = make(H5Dopen2(file, name.c_str(), H5P_DEFAULT), "H5Dopen2");
  H5Handle space = make(H5Dget_space(ds.get()), "H5Dget_space");
  std::vector<V> out(static_cast<std::size_t>(H5Sget_simple_extent_npoints(space.get())));
  const hid_t mem = std::is_same_v<V, double> ? H5T_NATIVE_DOUBLE : H5T_NATIVE_INT64;
  if (!out.empty()) check_status(H5Dread(ds.get(), mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.data()), "H5Dread");
  return out;
}

// The text of a status dataset (status_type: the file's and each run's).
std::string read_status(hid_t file, const std::string& name);

// SWMR writing needs the superblock the engine writes (version 3): a copy rewritten in an older
// format (h5repack without --latest, h5py's default) would pass every check and then fail.
void check_swmr_superblock(hid_t file, const std::string& path, const std::string& option);

// What a dataset must be: its type class and extents; a growing dataset's first extent is its
// rows (any number) and must be unlimited, since the writer extends it.
struct Expected {
  H5T_class_t type_class;
  std::vector<hsize_t> dims;
  bool growing = false;
};

// Checks the datasets a writer will open, and remembers their addresses: two names for one
// dataset (a link) would make two series write into one.
class LayoutCheck {
 public:
  explicit LayoutCheck(hid_t file) : file_(file) {}
  // The extents of dataset `name`, checked against `want`.
  std::vector<hsize_t> dataset(const std::string& name, const Expected& want);
  // The rows of a growing dataset of `width` values a row (0: one value a row).
  hsize_t rows(const std::string& name, H5T_class_t type_class, hsize_t width = 0) {
    return dataset(name, {type_class, width ? std::vector<hsize_t>{0, width} : std::vector<hsize_t>{0}, true})[0];
  }

 private:
  hid_t file_;
  std::set<haddr_t> addresses_;
};

// check(), with what it finds wrong said as a ConfigError naming `option` and the file: Damage
// ("is damaged: ..."), a size that cannot fit in memory, or any failure of the library on the way.
template <typename F>
auto checked_file(const std::string& option, const std::string& path, F&& check) {
  try {
    return check();
  } catch (const Damage& e) {
    throw ConfigError(option + " '" + shown(path) + "' is damaged: " + e.what());
  } catch (const ConfigError&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw ConfigError(option + " '" + shown(path) + "' is damaged: it claims more data than fits in memory");
  } catch (const std::exception& e) {  // HDF5 failures
    throw ConfigError(option + " '" + shown(path) + "' is damaged or truncated (" + e.what() + ")");
  }
}

}  // namespace lowrank
