#include "sweep_config.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>

#include "inputs.hpp"
#include "series.hpp"
#include "stop_signals.hpp"
#include "toml_overrides.hpp"

namespace lowrank {
namespace {

[[noreturn]] void fail(const std::string& origin, const std::string& message) {
  throw ConfigError(origin + ": " + message);
}

// A value as --set takes it: TOML text on one line (tables inline, as { scale = 1.0, k_power = -0.5 }).
std::string toml_text(const toml::node& node) {
  std::string out;
  if (const toml::table* t = node.as_table()) {
    for (const auto& [k, v] : *t) out += (out.empty() ? "{ " : ", ") + std::string(k.str()) + " = " + toml_text(v);
    return out.empty() ? "{}" : out + " }";
  }
  if (const toml::array* a = node.as_array()) {
    for (const auto& v : *a) out += (out.empty() ? "[" : ", ") + toml_text(v);
    return out.empty() ? "[]" : out + "]";
  }
  std::ostringstream os;
  node.visit([&os](const auto& v) { os << v; });
  return os.str();
}

// The names the sweep file uses itself, beside the series, the axes, their keys and the slopes.
const std::set<std::string> kReservedNames = {"run", "replicate", "epoch", "status", "cell_status", "cell_file",
                                              "cell_device"};
// Cells a sweep may have: the count is known from the axes before any cell is built, and each
// cell's configuration is checked at once (about 40 µs each: 1000000 in under a minute).
constexpr std::int64_t kMaxCells = 1'000'000;
// Epochs a sweep file holds: a series' chunk is a row of epochs, and HDF5 chunks stay below 4 GiB.
constexpr std::int64_t kMaxSweepEpochs = (std::int64_t{1} << 29) - 1;

// The datasets of a sweep file by name, with what each holds: two uses of one name are refused.
class FileNames {
 public:
  explicit FileNames(const std::vector<std::string>& gathered) {
    for (const std::string& name : kReservedNames) taken_[name] = "one of its own datasets";
    for (const std::string& s : gathered)
      for (const char* suffix : {"", "_mean", "_stderr"}) taken_[s + suffix] = "the series " + s;
  }
  // Claims `name` for `what`; a ConfigError naming `key` when something holds it already.
  void claim(const std::string& origin, const std::string& key, const std::string& name, const std::string& what) {
    const auto [at, fresh] = taken_.emplace(name, what);
    if (!fresh) fail(origin, "'" + key + "' = \"" + name + "\" is already the name of " + at->second + " in the sweep file");
  }

 private:
  std::map<std::string, std::string> taken_;
};

SweepAxis read_axis(const std::string& origin, const toml::table& t, std::size_t position) {
  const std::string where = "sweep.axes[" + std::to_string(position) + "]";
  for (const auto& [k, v] : t)
    if (k.str() != "name" && k.str() != "key" && k.str() != "keys" && k.str() != "values")
      fail(origin, "unknown key '" + where + "." + std::string(k.str()) + "'; allowed here: name, key, keys, values");
  SweepAxis axis;
  if (!t.contains("name")) fail(origin, "'" + where + ".name' is missing: each axis names its dimension in the sweep file");
  const auto name = t["name"].value<std::string>();
  if (!name) fail(origin, "'" + where + ".name' must be a string");
  axis.name = *name;
  check_name(origin, where + ".name", axis.name);
  const bool one = t.contains("key"), several = t.contains("keys");
  if (one == several) fail(origin, "axis '" + axis.name + "' needs exactly one of 'key' (one key) or 'keys' (keys varying together)");
  if (one) {
    const auto key = t["key"].value<std::string>();
    if (!key) fail(origin, "'sweep.axes." + axis.name + ".key' must be a string, e.g. \"data.n\"");
    axis.keys = {*key};
  } else {
    const toml::array* keys = t["keys"].as_array();
    if (!keys || keys->empty()) fail(origin, "'sweep.axes." + axis.name + ".keys' must be a non-empty array of keys");
    for (const auto& k : *keys) {
      if (!k.is_string()) fail(origin, "'sweep.axes." + axis.name + ".keys' must hold strings, e.g. [\"data.n\", \"data.d\"]");
      axis.keys.push_back(*k.value<std::string>());
    }
  }
  const toml::array* values = t["values"].as_array();
  if (!values || values->empty()) fail(origin, "'sweep.axes." + axis.name + ".values' must be a non-empty array (the axis is empty)");
  for (std::size_t i = 0; i < values->size(); ++i) {
    const toml::node& v = *values->get(i);
    std::vector<std::string> point;
    if (one) {
      point.push_back(toml_text(v));
    } else {
      const toml::array* tuple = v.as_array();
      if (!tuple || tuple->size() != axis.keys.size())
        fail(origin, "'sweep.axes." + axis.name + ".values[" + std::to_string(i) + "]' must hold " +
                         std::to_string(axis.keys.size()) + " values, one per key of 'keys'");
      for (const auto& x : *tuple) point.push_back(toml_text(x));
    }
    axis.values.push_back(std::move(point));
  }
  return axis;
}

// "'ntk', 'mf'"
std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "'" : ", '") + n + "'";
  return out.empty() ? "none" : out;
}

std::vector<std::string> cell_overrides(const SweepSpec& spec, std::int64_t cell) {
  const std::vector<std::int64_t> index = spec.cell_index(cell);
  std::vector<std::string> sets;
  for (std::size_t a = 0; a < spec.axes.size(); ++a)
    for (std::size_t j = 0; j < spec.axes[a].keys.size(); ++j)
      sets.push_back(spec.axes[a].keys[j] + "=" + spec.axes[a].values[static_cast<std::size_t>(index[a])][j]);
  return sets;
}

std::string cell_origin(const SweepSpec& spec, std::int64_t cell) {
  std::string text;
  for (const std::string& s : cell_overrides(spec, cell)) text += (text.empty() ? "" : ", ") + s;
  return "sweep cell " + std::to_string(cell) + " (" + text + ")";
}

}  // namespace

std::int64_t SweepSpec::cells() const {
  std::int64_t n = 1;
  for (const auto& a : axes) n *= static_cast<std::int64_t>(a.values.size());
  return n;
}

double SweepSpec::value_bytes() const {
  return 8.0 * double(gathered.size()) * double(runs.size()) * double(cells()) * double(replicates) * double(max_epochs);
}

double SweepSpec::file_bytes() const {
  const double per_epoch = 8.0 * double(runs.size()) * double(max_epochs);
  double derived = 0;  // a slope's dataset: the cells of one point of its axis
  for (const SweepSlope& slope : slopes)
    for (const SweepAxis& a : axes)
      if (a.name == slope.axis) derived += per_epoch * double(cells()) / double(a.values.size());
  return value_bytes() + 2 * per_epoch * double(gathered.size()) * double(cells()) + derived;
}

std::vector<std::int64_t> SweepSpec::cell_index(std::int64_t cell) const {
  std::vector<std::int64_t> index(axes.size());
  for (std::size_t a = axes.size(); a-- > 0;) {
    const auto size = static_cast<std::int64_t>(axes[a].values.size());
    index[a] = cell % size;
    cell /= size;
  }
  return index;
}

std::uint64_t replicate_seed(std::uint64_t seed, std::int64_t replicate) {
  return replicate == 0 ? seed : splitmix64(seed ^ splitmix64(static_cast<std::uint64_t>(replicate)));
}

Config cell_config(const SweepSpec& spec, std::int64_t cell, std::int64_t replicate) {
  Config c = parse_config(spec.base_text, cell_origin(spec, cell), cell_overrides(spec, cell));
  c.seed = replicate_seed(c.seed, replicate);
  if (spec.at_init) set_epochs(c, 1);
  else if (spec.epochs > 0) set_epochs(c, spec.epochs);
  return c;
}

SweepSpec parse_sweep(const std::string& text, const std::string& origin, const std::vector<std::string>& overrides) {
  toml::table root;
  try {
    root = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    fail(origin, "line " + std::to_string(e.source().begin.line) + ": " + std::string(e.description()));
  }
  for (const auto& o : overrides) apply_override(root, o);
  if (!root["sweep"].as_table()) fail(origin, "no [sweep] table: a sweep needs its axes (see README, \"Sweeps\")");
  const toml::table sweep_table = *root["sweep"].as_table();  // a copy: [sweep] is erased from root below
  const toml::table* sweep = &sweep_table;
  SweepSpec spec;
  for (const auto& [k, v] : *sweep) {
    const std::string key(k.str());
    if (key != "axes" && key != "replicates" && key != "epochs" && key != "gather" && key != "slopes" && key != "keep_runs")
      fail(origin, "unknown key 'sweep." + key + "'; allowed here: axes, epochs, gather, keep_runs, replicates, slopes");
  }
  const auto replicates = (*sweep)["replicates"].value_or<std::int64_t>(1);
  if (!(*sweep)["replicates"].is_integer() && sweep->contains("replicates"))
    fail(origin, "'sweep.replicates' must be an integer");
  if (replicates < 1 || replicates > 1'000'000)
    fail(origin, "'sweep.replicates' = " + std::to_string(replicates) + " must be an integer from 1 to 1000000");
  spec.replicates = replicates;
  if (sweep->contains("epochs")) {
    const auto epochs = (*sweep)["epochs"].value<std::int64_t>();
    if (!epochs || !(*sweep)["epochs"].is_integer() || *epochs < 0 || *epochs > kMaxEpochs)
      fail(origin, "'sweep.epochs' must be an integer from 0 (the metrics at initialisation) to " + std::to_string(kMaxEpochs));
    spec.at_init = *epochs == 0;
    spec.epochs = *epochs;
  }
  if (sweep->contains("keep_runs")) {
    const auto keep = (*sweep)["keep_runs"].value<bool>();
    if (!keep) fail(origin, "'sweep.keep_runs' must be true or false");
    spec.keep_runs = *keep;
  }
  const toml::array* axes = (*sweep)["axes"].as_array();
  if (!axes || axes->empty()) fail(origin, "'sweep.axes' must list at least one axis ([[sweep.axes]] tables)");
  std::map<std::string, std::string> key_axis;  // each key varies on one axis only
  std::int64_t cells = 1;
  for (std::size_t i = 0; i < axes->size(); ++i) {
    const toml::table* t = axes->get(i)->as_table();
    if (!t) fail(origin, "'sweep.axes[" + std::to_string(i) + "]' must be a table");
    const SweepAxis& axis = spec.axes.emplace_back(read_axis(origin, *t, i));
    for (const std::string& key : axis.keys) {
      const auto [at, fresh] = key_axis.emplace(key, axis.name);
      if (!fresh)
        fail(origin, "'sweep.axes." + axis.name + "': the key '" + key + "' is set by axis '" + at->second +
                         (at->second == axis.name ? "' twice" : "' too") + "; a key varies on one axis only, once");
    }
    const auto size = static_cast<std::int64_t>(axis.values.size());
    if (cells > kMaxCells / size) {
      std::string product;
      for (const SweepAxis& a : spec.axes) product += (product.empty() ? "" : " x ") + std::to_string(a.values.size());
      fail(origin, "the axes make more than " + std::to_string(kMaxCells) + " cells (" + product +
                       " so far, on axes up to '" + axis.name + "'): split the sweep, or shorten its axes");
    }
    cells *= size;
  }
  std::vector<std::string> wanted;
  if (const toml::node* gather = sweep->get("gather")) {
    const toml::array* list = gather->as_array();
    if (!list) fail(origin, "'sweep.gather' must be an array of series names");
    for (const auto& g : *list) {
      if (!g.is_string()) fail(origin, "'sweep.gather' must hold series names (strings)");
      wanted.push_back(*g.value<std::string>());
    }
  }
  std::ostringstream sweep_text, base_text;
  sweep_text << toml::table{{"sweep", *sweep}};
  spec.sweep_text = sweep_text.str();
  root.erase("sweep");
  base_text << root;
  spec.base_text = base_text.str();

  // Every cell's configuration, checked now; the series any cell records; the longest run; the
  // most memory a cell needs.
  std::set<std::string> recorded_somewhere, data_files;
  std::map<std::string, std::pair<std::string, std::int64_t>> warned;  // run: its first warning, cells
  for (std::int64_t cell = 0; cell < spec.cells(); ++cell) {
    if (stop_signal()) throw Stopped();
    const Config c = cell_config(spec, cell, 0);
    std::vector<std::string> runs;
    for (const auto& r : c.runs) runs.push_back(r.name);
    if (cell == 0) {
      spec.experiment = c.experiment;
      spec.runs = runs;
    } else if (runs != spec.runs) {
      fail(cell_origin(spec, cell), "its runs are " + joined(runs) + ", and the first cell's " + joined(spec.runs) +
                                        ": every cell must have the same runs (the sweep file's run dimension)");
    }
    for (const auto& r : c.runs) {
      if (r.epochs == 0)
        fail(cell_origin(spec, cell), "its run '" + r.name +
                                          "' has 0 epochs; a sweep measures at initialisation with sweep.epochs = 0");
      spec.max_epochs = std::max(spec.max_epochs, r.epochs);
    }
    const DataFiles& f = c.data_files;
    // (with the loss: the labels each loss takes are checked as they are read)
    if (c.data_source == DataSource::file &&
        data_files.insert(f.x + '\n' + f.y + '\n' + f.x_test + '\n' + f.y_test + '\n' + to_string(c.loss)).second)
      spec.data_file_cells.push_back(cell);
    for (bool gpu : {false, true}) {
      const MemoryEstimate e = estimate_memory(c, gpu);
      MemoryEstimate& most = gpu ? spec.cell_memory_gpu : spec.cell_memory_cpu;
      most.host_bytes = std::max(most.host_bytes, e.host_bytes);
      most.device_bytes = std::max(most.device_bytes, e.device_bytes);
    }
    for (const ConfigWarning& w : config_warnings(c)) {  // each run's first, and in how many cells
      auto [at, fresh] = warned.emplace(w.run, std::make_pair(w.text, std::int64_t{0}));
      ++at->second.second;
    }
    for (const SeriesInfo& s : kSeries)
      if (s.shape == SeriesShape::scalar && recorded(s, c) && s.taken_at != TakenAt::whole_epoch &&
          (!spec.at_init || s.taken_at == TakenAt::entering))
        recorded_somewhere.insert(s.name);
  }
  for (const auto& [run, warning] : warned)
    spec.warnings.push_back(warning.first + (warning.second > 1 ? " (the first of " + std::to_string(warning.second) +
                                                                      " cells that warn so)"
                                                                : ""));
  for (const std::string& w : wanted)
    if (!recorded_somewhere.count(w)) {
      std::string allowed;
      for (const SeriesInfo& s : kSeries)
        if (recorded_somewhere.count(s.name)) allowed += (allowed.empty() ? "" : ", ") + std::string(s.name);
      fail(origin, "'sweep.gather' names '" + w + "', which no cell records" +
                       (spec.at_init ? " at initialisation" : "") + "; recorded: " + allowed);
    }
  for (const SeriesInfo& s : kSeries)
    if (recorded_somewhere.count(s.name) &&
        (wanted.empty() || std::find(wanted.begin(), wanted.end(), s.name) != wanted.end()))
      spec.gathered.push_back(s.name);
  // The file's names: its own, the gathered series', the axes', their keys' coordinates, the slopes'.
  FileNames names(spec.gathered);
  for (std::size_t i = 0; i < spec.axes.size(); ++i) {
    const SweepAxis& axis = spec.axes[i];
    names.claim(origin, "sweep.axes[" + std::to_string(i) + "].name", axis.name, "axis '" + axis.name + "'");
    for (const std::string& key : axis.keys)
      names.claim(origin, "sweep.axes." + axis.name + ".keys", key, "the coordinate of key '" + key + "'");
  }
  if (spec.max_epochs > kMaxSweepEpochs)
    fail(origin, "a cell's run has " + std::to_string(spec.max_epochs) + " epochs; a sweep file holds at most " +
                     std::to_string(kMaxSweepEpochs) + " (set sweep.epochs)");
  if (const toml::node* slopes = sweep->get("slopes")) {
    const toml::array* list = slopes->as_array();
    if (!list) fail(origin, "'sweep.slopes' must be an array of tables ([[sweep.slopes]])");
    for (std::size_t i = 0; i < list->size(); ++i) {
      const toml::table* t = list->get(i)->as_table();
      const std::string where = "sweep.slopes[" + std::to_string(i) + "]";
      if (!t) fail(origin, "'" + where + "' must be a table");
      for (const auto& [k, v] : *t) {
        const std::string key(k.str());
        if (key != "name" && key != "series" && key != "axis" && key != "key" && key != "scale")
          fail(origin, "unknown key '" + where + "." + key + "'; allowed here: axis, key, name, scale, series");
        if (key == "scale" ? !v.is_number() || !std::isfinite(*v.value<double>()) : !v.is_string())
          fail(origin, "'" + where + "." + key + "' must be " + (key == "scale" ? "a finite number" : "a string"));
      }
      SweepSlope slope;
      slope.name = (*t)["name"].value_or(std::string());
      slope.series = (*t)["series"].value_or(std::string());
      slope.axis = (*t)["axis"].value_or(std::string());
      slope.scale = (*t)["scale"].value_or(1.0);
      if (slope.name.empty()) fail(origin, "'" + where + ".name' is missing: it names the derived dataset");
      check_name(origin, where + ".name", slope.name);
      names.claim(origin, where + ".name", slope.name, "the slope " + slope.name);
      if (std::find(spec.gathered.begin(), spec.gathered.end(), slope.series) == spec.gathered.end())
        fail(origin, "'" + where + ".series' = \"" + slope.series + "\" is not a gathered series");
      const auto axis = std::find_if(spec.axes.begin(), spec.axes.end(), [&](const SweepAxis& a) { return a.name == slope.axis; });
      if (axis == spec.axes.end()) fail(origin, "'" + where + ".axis' = \"" + slope.axis + "\" is not an axis of the sweep");
      slope.key = (*t)["key"].value_or(axis->keys.front());
      const auto key = std::find(axis->keys.begin(), axis->keys.end(), slope.key);
      if (key == axis->keys.end()) fail(origin, "'" + where + ".key' = \"" + slope.key + "\" is not a key of axis '" + slope.axis + "'");
      for (const auto& point : axis->values) {
        const std::string& value = point[static_cast<std::size_t>(key - axis->keys.begin())];
        char* end = nullptr;
        const double x = std::strtod(value.c_str(), &end);
        if (end != value.c_str() + value.size() || !(x > 0))
          fail(origin, "'" + where + "': the values of '" + slope.key + "' must be positive numbers (a log-log slope); " +
                           value + " is not");
      }
      spec.slopes.push_back(slope);
    }
  }
  return spec;
}

}  // namespace lowrank
