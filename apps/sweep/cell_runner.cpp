#include "cell_runner.hpp"

#include <cstring>
#include <limits>
#include <memory>

#include "cpu_backend.hpp"
#include "cuda_backend.hpp"
#include "epoch.hpp"
#include "inputs.hpp"
#include "series.hpp"

namespace lowrank {
namespace {

const SeriesInfo& series_named(const std::string& name) {
  for (const SeriesInfo& s : kSeries)
    if (name == s.name) return s;
  throw std::logic_error("no series named " + name);
}

template <typename T>
CellResult train(Backend<T>& be, const SweepSpec& spec, const Config& c) {
  const auto runs = static_cast<std::int64_t>(spec.runs.size()), series = static_cast<std::int64_t>(spec.gathered.size());
  CellResult out;
  out.values.assign(static_cast<std::size_t>(runs * series * spec.max_epochs), std::numeric_limits<double>::quiet_NaN());
  std::vector<Inputs> inputs;
  for (const auto& g : c.inputs) inputs.push_back(make_inputs(c, g));
  const Buffer<T> a = upload_double(be, inputs.front().a, c.k, 1);
  std::vector<DeviceInputs<T>> data;
  data.reserve(inputs.size());  // runs point into it
  for (const auto& in : inputs) {
    data.push_back(load_inputs(be, in, c));
    data.back().a = &a;
  }
  for (std::int64_t r = 0; r < runs; ++r) {
    const RunSpec& spec_r = c.run(spec.runs[static_cast<std::size_t>(r)]);
    std::size_t group = 0;
    while (c.inputs[group].name != spec_r.inputs) ++group;
    RunState<T> s = start_run(be, c, spec_r, data[group], inputs[group]);
    const std::int64_t epochs = spec.at_init ? 1 : spec_r.epochs;
    for (std::int64_t t = 0; t < epochs; ++t, ++s.epoch) {
      EpochRecord rec;
      // The spectrum's rows are not gathered: a heavy epoch only at t = 0.
      if (!run_epoch(be, s, kMaxEpochs + 1, rec)) {
        out.diverged = true;
        break;
      }
      for (std::int64_t k = 0; k < series; ++k) {
        const SeriesInfo& info = series_named(spec.gathered[static_cast<std::size_t>(k)]);
        if (recorded(info, c))
          out.values[static_cast<std::size_t>((r * series + k) * spec.max_epochs + t)] = rec.*info.scalar;
      }
    }
  }
  return out;
}

template <typename T>
CellResult train_on(bool gpu, const SweepSpec& spec, const Config& c) {
  std::unique_ptr<Backend<T>> be = gpu ? make_cuda_backend<T>() : make_cpu_backend<T>();
  return train(*be, spec, c);
}

}  // namespace

CellResult run_cell(const SweepSpec& spec, const Config& config, bool gpu) {
  return config.precision == Precision::float32 ? train_on<float>(gpu, spec, config)
                                                : train_on<double>(gpu, spec, config);
}

}  // namespace lowrank
