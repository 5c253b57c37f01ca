// One replicate of one sweep cell, trained in this process by the engine's own driver
// (train_all), keeping only the gathered scalar series. Pairs, refits and per-epoch files are
// the engine's, not a sweep's.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "config.hpp"
#include "sweep_file.hpp"

namespace lowrank {

// Trains `config` (one cell's replicate) on the CPU backend (`device` kCpuDevice) or on that CUDA
// device (choose_cuda_device), from the calling thread.
CellResult run_cell(const SweepSpec& spec, const Config& config, int device);

// The same through the engine's own driver (keep_runs): the cell's whole engine file at `path`
// (written as `path`.part and renamed over any older copy), the gathered series read back from
// it. HDF5 here is not thread-safe: call it from one thread, with no other HDF5 work meanwhile.
CellResult run_cell_keeping(const SweepSpec& spec, const Config& config, int device, const std::string& path);

// Where keep_runs puts a sweep file's cells: the folder <stem>-cells beside it, and in it a
// cell's replicate's file cell<c>-r<r>.h5.
std::filesystem::path kept_cells_folder(const std::filesystem::path& sweep_file);
std::string kept_cell_name(std::int64_t cell, std::int64_t replicate);

}  // namespace lowrank
