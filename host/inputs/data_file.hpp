// A researcher's own data (SPEC §9, `[data] source = "file"`): numeric arrays read from HDF5
// ("FILE.h5:/dataset") or NumPy .npy files ("FILE.npy"), checked before any work with messages
// that name the configuration key, the file and what is wrong.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace lowrank {

// Each call holds hdf5_mutex(): a sweep's pool reads from several threads.

// Where an array lives: `path` and, in an HDF5 file, the dataset's path in it ("" for .npy).
struct ArraySource {
  std::string path, dataset;
};

// "FILE.npy", or "FILE.h5:/group/name" (also .hdf5); a ConfigError naming `key` otherwise.
ArraySource parse_array_source(const std::string& key, const std::string& text);

// The array's dimensions, from its header alone; a ConfigError naming `key` when the file
// cannot be read, the dataset is missing, or the type is not a real or integer number.
std::vector<std::int64_t> array_shape(const std::string& key, const ArraySource& source);

// The epochs of a stack of snapshots (the engine's runs/<run>/snapshots/W and the like): the
// `epoch` dataset beside it in its HDF5 group; a ConfigError naming `key` when there is none.
std::vector<std::int64_t> stack_epochs(const std::string& key, const ArraySource& source);

// The values, row-major, as float64 (with `row` ≥ 0: those of index `row` along the first axis
// alone); a ConfigError naming `key` where one is NaN or infinite.
std::vector<double> read_array(const std::string& key, const ArraySource& source, std::int64_t row = -1);

}  // namespace lowrank
