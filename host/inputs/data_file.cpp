#include "data_file.hpp"

#include <hdf5.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "config.hpp"
#include "h5_objects.hpp"
#include "paths.hpp"

namespace lowrank {
namespace {

[[noreturn]] void refuse(const std::string& key, const ArraySource& s, const std::string& what) {
  throw ConfigError("'" + key + "' = " + shown(s.path) + (s.dataset.empty() ? "" : ":" + s.dataset) + ": " + what);
}

bool ends_with(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

void require_regular_file(const std::string& key, const ArraySource& s) {
  if (const std::string why = not_a_regular_file(s.path); !why.empty()) refuse(key, s, why);
}

// A .npy file's header: the element type, the shape and where the data start.
struct NpyHeader {
  char kind = 0;  // 'f' or 'i'
  int bytes = 0;
  std::vector<std::int64_t> shape;
  std::size_t data_offset = 0;
};

NpyHeader npy_header(const std::string& key, const ArraySource& s, std::ifstream& in) {
  char magic[8] = {};
  in.read(magic, 8);
  if (!in || std::memcmp(magic, "\x93NUMPY", 6) != 0) refuse(key, s, "not a NumPy .npy file (no \\x93NUMPY magic)");
  const int major = static_cast<unsigned char>(magic[6]);
  unsigned char len_bytes[4] = {};
  in.read(reinterpret_cast<char*>(len_bytes), major == 1 ? 2 : 4);
  std::size_t header_len = len_bytes[0] | (std::size_t(len_bytes[1]) << 8);
  if (major != 1) header_len |= (std::size_t(len_bytes[2]) << 16) | (std::size_t(len_bytes[3]) << 24);
  if (!in || header_len > (1u << 20)) refuse(key, s, "a damaged .npy header");
  std::string header(header_len, '\0');
  in.read(header.data(), static_cast<std::streamsize>(header_len));
  if (!in) refuse(key, s, "a truncated .npy header");
  NpyHeader h;
  h.data_offset = 8 + (major == 1 ? 2 : 4) + header_len;
  // The header is a Python dict literal: {'descr': '<f8', 'fortran_order': False, 'shape': (n, d), }
  // (std::regex is avoided: GCC 12 warns inside it under the sanitizers).
  auto value_after = [&](const char* field) -> std::string {
    const auto at = header.find(std::string("'") + field + "'");
    if (at == std::string::npos) return "";
    const auto colon = header.find(':', at);
    const auto end_of = header.find_first_of(",)", header.find_first_not_of(" :", colon));
    return colon == std::string::npos ? "" : header.substr(colon + 1, end_of == std::string::npos ? std::string::npos
                                                                                                   : end_of - colon);
  };
  std::string descr = value_after("descr");
  const auto q1 = descr.find('\''), q2 = descr.rfind('\'');
  descr = q1 != std::string::npos && q2 > q1 ? descr.substr(q1 + 1, q2 - q1 - 1) : "";
  const bool number = descr.size() >= 3 && std::string("<|>=").find(descr[0]) != std::string::npos &&
                      std::string("fiu").find(descr[1]) != std::string::npos &&
                      descr.find_first_not_of("0123456789", 2) == std::string::npos;
  if (!number) refuse(key, s, "the .npy element type is not a number (descr '" + descr + "')");
  h.kind = descr[1];
  h.bytes = std::stoi(descr.substr(2));
  if (descr[0] == '>' || (h.kind == 'f' && h.bytes != 4 && h.bytes != 8) ||
      (h.kind != 'f' && h.bytes != 1 && h.bytes != 2 && h.bytes != 4 && h.bytes != 8))
    refuse(key, s, "the .npy element type '" + descr + "' is not one read here (little-endian float32/float64 or integers)");
  if (value_after("fortran_order").find("True") != std::string::npos)
    refuse(key, s, "stored in Fortran order; save it with numpy.save(path, numpy.ascontiguousarray(a))");
  const auto shape_at = header.find("'shape'"), open = header.find('(', shape_at), close = header.find(')', open);
  if (shape_at == std::string::npos || open == std::string::npos || close == std::string::npos)
    refuse(key, s, "no shape in the .npy header");
  std::int64_t value = -1;
  for (std::size_t i = open + 1; i <= close; ++i) {
    const char c = header[i];
    if (c >= '0' && c <= '9') {
      value = (value < 0 ? 0 : value * 10) + (c - '0');
    } else if (value >= 0) {
      h.shape.push_back(value);
      value = -1;
    }
  }
  return h;
}

// An HDF5 dataset opened read-only, its errors silenced (the message here says what is wrong).
struct Hdf5Array {
  H5Handle file, dataset, space;
  std::vector<std::int64_t> shape;
};

Hdf5Array open_hdf5(const std::string& key, const ArraySource& s) {
  Hdf5Array a;
  hid_t f = -1, d = -1;
  H5E_BEGIN_TRY { f = H5Fopen(s.path.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT); }
  H5E_END_TRY;
  if (f < 0) refuse(key, s, "not a readable HDF5 file");
  a.file = H5Handle(f);
  H5E_BEGIN_TRY {
    if (H5Lexists(f, s.dataset.c_str(), H5P_DEFAULT) > 0) d = H5Dopen2(f, s.dataset.c_str(), H5P_DEFAULT);
  }
  H5E_END_TRY;
  if (d < 0) refuse(key, s, "no dataset '" + s.dataset + "' in the file");
  a.dataset = H5Handle(d);
  H5Handle type(H5Dget_type(d));
  const H5T_class_t cls = H5Tget_class(type.get());
  if (cls != H5T_FLOAT && cls != H5T_INTEGER) refuse(key, s, "the dataset holds no numbers (not a float or integer type)");
  a.space = H5Handle(H5Dget_space(d));
  const int rank = H5Sget_simple_extent_ndims(a.space.get());
  std::vector<hsize_t> dims(static_cast<std::size_t>(std::max(rank, 0)));
  if (rank < 0 || H5Sget_simple_extent_dims(a.space.get(), dims.data(), nullptr) < 0) refuse(key, s, "an unreadable shape");
  for (hsize_t x : dims) a.shape.push_back(static_cast<std::int64_t>(x));
  return a;
}

std::int64_t count_of(const std::vector<std::int64_t>& shape) {
  std::int64_t n = 1;
  for (std::int64_t x : shape) n *= x;
  return n;
}

}  // namespace

ArraySource parse_array_source(const std::string& key, const std::string& text) {
  for (const char* suffix : {".h5:", ".hdf5:"}) {
    const auto at = text.find(suffix);
    if (at != std::string::npos) {
      const std::size_t split = at + std::strlen(suffix) - 1;
      ArraySource s{text.substr(0, split), text.substr(split + 1)};
      if (s.dataset.empty()) throw ConfigError("'" + key + "' = \"" + text + "\" names no dataset after ':'");
      return s;
    }
  }
  if (ends_with(text, ".npy")) return {text, ""};
  throw ConfigError("'" + key + "' = \"" + text +
                    "\" must name a .npy file or an HDF5 dataset, as \"FILE.npy\" or \"FILE.h5:/dataset\"");
}

std::vector<std::int64_t> array_shape(const std::string& key, const ArraySource& s) {
  const std::lock_guard<std::recursive_mutex> lock(hdf5_mutex());
  require_regular_file(key, s);
  if (!s.dataset.empty()) return open_hdf5(key, s).shape;
  std::ifstream in(s.path, std::ios::binary);
  const NpyHeader h = npy_header(key, s, in);
  const auto size = std::filesystem::file_size(s.path);
  if (size < h.data_offset + static_cast<std::size_t>(count_of(h.shape)) * static_cast<std::size_t>(h.bytes))
    refuse(key, s, "the .npy file is shorter than its header's shape says (truncated)");
  return h.shape;
}

std::vector<std::int64_t> stack_epochs(const std::string& key, const ArraySource& s) {
  const std::lock_guard<std::recursive_mutex> lock(hdf5_mutex());
  if (s.dataset.empty()) refuse(key, s, "a .npy stack has no epochs: save the one array you want");
  const auto slash = s.dataset.rfind('/');
  const ArraySource epochs{s.path, (slash == std::string::npos ? std::string() : s.dataset.substr(0, slash)) + "/epoch"};
  Hdf5Array a = open_hdf5(key, epochs);
  if (a.shape.size() != 1) refuse(key, epochs, "not a list of epochs");
  std::vector<std::int64_t> values(static_cast<std::size_t>(a.shape[0]));
  if (!values.empty() &&
      H5Dread(a.dataset.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()) < 0)
    refuse(key, epochs, "the epochs could not be read");
  return values;
}

std::vector<double> read_array(const std::string& key, const ArraySource& s, std::int64_t row) {
  const std::lock_guard<std::recursive_mutex> lock(hdf5_mutex());
  const std::vector<std::int64_t> shape = array_shape(key, s);
  if (row >= 0 && (shape.empty() || row >= shape[0])) refuse(key, s, "no row " + std::to_string(row));
  const std::int64_t count = row < 0 ? count_of(shape) : count_of(shape) / shape[0];
  std::vector<double> values(static_cast<std::size_t>(count));
  if (!s.dataset.empty()) {
    Hdf5Array a = open_hdf5(key, s);
    H5Handle mem;
    if (row >= 0) {  // the row's hyperslab: [row, :, ...]
      std::vector<hsize_t> start(shape.size(), 0), extent(shape.begin(), shape.end());
      start[0] = static_cast<hsize_t>(row);
      extent[0] = 1;
      const auto length = static_cast<hsize_t>(count);
      if (H5Sselect_hyperslab(a.space.get(), H5S_SELECT_SET, start.data(), nullptr, extent.data(), nullptr) < 0)
        refuse(key, s, "row " + std::to_string(row) + " could not be selected");
      mem = H5Handle(H5Screate_simple(1, &length, nullptr));
    }
    if (H5Dread(a.dataset.get(), H5T_NATIVE_DOUBLE, row >= 0 ? mem.get() : H5S_ALL, row >= 0 ? a.space.get() : H5S_ALL,
                H5P_DEFAULT, values.data()) < 0)
      refuse(key, s, "the values could not be read");
  } else {
    std::ifstream in(s.path, std::ios::binary);
    const NpyHeader h = npy_header(key, s, in);
    if (row > 0) in.seekg(static_cast<std::streamoff>(h.data_offset + static_cast<std::size_t>(row * count * h.bytes)));
    std::vector<char> raw(static_cast<std::size_t>(count) * static_cast<std::size_t>(h.bytes));
    in.read(raw.data(), static_cast<std::streamsize>(raw.size()));
    if (!in) refuse(key, s, "the values could not be read (truncated)");
    for (std::size_t i = 0; i < values.size(); ++i) {
      const char* p = raw.data() + i * static_cast<std::size_t>(h.bytes);
      auto as = [p](auto v) {
        std::memcpy(&v, p, sizeof v);
        return static_cast<double>(v);
      };
      if (h.kind == 'f') values[i] = h.bytes == 4 ? as(float{}) : as(double{});
      else if (h.kind == 'i') values[i] = h.bytes == 1 ? as(std::int8_t{}) : h.bytes == 2 ? as(std::int16_t{})
                                        : h.bytes == 4 ? as(std::int32_t{}) : as(std::int64_t{});
      else values[i] = h.bytes == 1 ? as(std::uint8_t{}) : h.bytes == 2 ? as(std::uint16_t{})
                     : h.bytes == 4 ? as(std::uint32_t{}) : as(std::uint64_t{});
    }
  }
  for (std::size_t i = 0; i < values.size(); ++i)
    if (!std::isfinite(values[i])) refuse(key, s, "value " + std::to_string(i) + " (row-major) is not finite");
  return values;
}

}  // namespace lowrank
