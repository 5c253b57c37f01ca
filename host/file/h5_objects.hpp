// HDF5 building blocks shared by the writer and the resume's reader: identifiers closed by scope,
// checks that name the failing call, string attributes and the fixed-length status datasets.
#pragma once

#include <hdf5.h>

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace lowrank {

// Debian's HDF5 is built without thread safety: where threads may use it at once (a sweep's pool
// reads its cells' data files while the main thread writes the sweep file), each holds this lock.
std::recursive_mutex& hdf5_mutex();

// An HDF5 identifier closed by its own H5*close when it goes out of scope.
class H5Handle {
 public:
  H5Handle() = default;
  explicit H5Handle(hid_t id) : id_(id) {}
  H5Handle(H5Handle&& o) noexcept : id_(o.id_) { o.id_ = -1; }
  H5Handle& operator=(H5Handle&& o) noexcept;
  H5Handle(const H5Handle&) = delete;
  H5Handle& operator=(const H5Handle&) = delete;
  ~H5Handle();
  hid_t get() const { return id_; }

 private:
  hid_t id_ = -1;
};

// `id`, or a std::runtime_error naming `call` when it is an error.
hid_t check(hid_t id, const char* call);
void check_status(herr_t status, const char* call);
H5Handle make(hid_t id, const char* call);

// Whether `path` (relative to `location`) names an object; false for a path through a missing
// group or a non-group, where H5Lexists itself fails.
bool exists(hid_t location, const std::string& path);

void attr_string(hid_t object, const char* name, const std::string& value);
// A scalar attribute: float64 for a floating-point value, int64 otherwise.
template <typename V>
void attr_number(hid_t object, const char* name, V value);

// The netCDF-style attributes that xarray shows: what a series is (long_name), its unit, and
// the weights it is taken at.
void describe(hid_t dataset, const char* meaning, const char* units, const char* taken_at);

// A fixed array written once (inputs, coordinates). `mem_type` describes `data`.
void fixed_dataset(hid_t parent, const char* name, hid_t file_type, hid_t mem_type, const void* data,
                   std::vector<hsize_t> dims);
// A coordinate 0…size−1 made an HDF5 dimension scale named `name`.
H5Handle index_scale(hid_t group, const char* name, hsize_t size);

// The time now, as created_utc says it: 2026-11-29T21:40:00Z.
std::string utc_now();

// The status datasets (`/status`, `runs/<run>/status`) are scalar fixed-length strings: a SWMR
// writer may rewrite a dataset but not an attribute.
inline constexpr std::size_t kStatusLength = 32;
H5Handle status_type();
void write_status(hid_t dataset, const std::string& value);
// A scalar status dataset holding `value`.
H5Handle status_dataset(hid_t parent, const char* name, const std::string& value);

}  // namespace lowrank
