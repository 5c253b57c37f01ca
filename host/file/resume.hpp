// `engine --resume`: what a file says of its runs and checkpoints, read and checked whole before
// a byte of it changes: its configuration passes a fresh run's checks, every object the writer
// will open is there with its shape and type, every per-epoch dataset of a run to be continued
// holds at least the checkpoint's rows, each checkpoint lies within the file, and the inputs the
// configuration draws are the file's.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "config.hpp"
#include "inputs.hpp"
#include "run_tensors.hpp"
#include "series.hpp"

namespace lowrank {

// Where `engine --resume` continues a file: per side-by-side group, the epoch of its newest
// complete checkpoint and the runs' state there; per run, what the file says of it.
struct ResumePlan {
  struct Run {
    std::string status;
    std::int64_t rows = 0, diverged_epoch = -1;
    std::uint64_t snapshots = 0;  // arrays in its snapshot datasets (the fewest), with output.snapshot_every
    // What a run that is not retrained shows in the summary: its last row, refit and seconds.
    EpochRecord last;
    double refit_test_mse = 0, seconds = 0;
  };
  struct Group {
    std::int64_t epoch = 0;  // 0: no checkpoint, start over
    int slot = -1;           // the slot holding it
    // Per run of the group: its checkpointed tensors (checkpointed_tensors' order).
    std::vector<CheckpointedValues> state;
  };
  Config config;
  std::string status;   // the file's
  std::string device;   // the device that wrote it (the header's)
  std::string resumed;  // the file's earlier resumptions, a line each ("" if none)
  std::vector<Inputs> inputs;  // drawn by draw_resume_inputs
  std::int64_t checkpoint_every = 10;
  std::vector<Run> runs;
  std::vector<Group> groups;
  // Whether run `run` (of group `group`) ended before its group's checkpoint: it is not retrained.
  bool finished(std::size_t run, std::size_t group) const;
};

// Reads and checks `path` for --resume without drawing anything: a ConfigError says what is wrong
// with a foreign, older-format, damaged or inconsistent file.
ResumePlan plan_resume(const std::string& path);

// Draws the inputs of `plan`'s configuration into it and checks that they are the file's (in the
// working precision), and reads the checkpoints' state; a ConfigError when they differ. Call once
// the memory check has passed.
void draw_resume_inputs(ResumePlan& plan, const std::string& path);

// The first change a resume makes, once every check has passed: clears the "open for write" flags
// a killed SWMR writer leaves (as `h5clear -s` does). A ConfigError when the file cannot be opened
// for writing: another program has it open (HDF5's own lock), or it is not writable.
void clear_writer_flags(const std::string& path);

}  // namespace lowrank
