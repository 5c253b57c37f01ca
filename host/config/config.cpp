#include "config.hpp"

#include "data_file.hpp"
#include "toml_overrides.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <numeric>
#include <set>
#include <sstream>

namespace lowrank {

namespace {

// The name of `value` in a name table.
template <typename E, std::size_t N>
const char* name_of(E value, const std::pair<const char*, E> (&names)[N]) {
  for (const auto& [name, v] : names)
    if (v == value) return name;
  return "?";
}

}  // namespace

const char* to_string(Activation a) { return name_of(a, kActivationNames); }
const char* to_string(Loss l) { return name_of(l, kLossNames); }
const char* to_string(AInit a) { return name_of(a, kAInitNames); }
const char* to_string(WInit w) { return name_of(w, kWInitNames); }
const char* to_string(BetaInit b) { return name_of(b, kBetaInitNames); }

const char* InputsSpec::teacher_name() const { return triple_index ? kTripleIndexTeacher : to_string(teacher); }
const char* to_string(Precision p) { return name_of(p, kPrecisionNames); }
const char* to_string(SpectrumMethod m) { return name_of(m, kSpectrumMethodNames); }
const char* to_string(MuSource m) { return name_of(m, kMuSourceNames); }
const char* to_string(DataSource s) { return name_of(s, kDataSourceNames); }
const char* to_string(OptimizerKind o) { return name_of(o, kOptimizerNames); }

namespace {

[[noreturn]] void fail(const std::string& origin, const std::string& message) {
  throw ConfigError(origin + ": " + message);
}

template <typename E, std::size_t N>
E parse_enum(const std::string& origin, const std::string& key, const std::string& text,
             const std::pair<const char*, E> (&names)[N]) {
  std::string allowed;
  for (const auto& [name, value] : names) {
    if (text == name) return value;
    allowed += (allowed.empty() ? "" : ", ") + std::string(name);
  }
  fail(origin, "'" + key + "' = \"" + text + "\" is not allowed; allowed: " + allowed);
}

// Reads the keys of one TOML table, remembering which were asked for, so that any other key
// is reported as unknown together with the allowed ones.
class TableReader {
 public:
  TableReader(const toml::table* table, std::string prefix, std::string origin)
      : table_(table), prefix_(std::move(prefix)), origin_(std::move(origin)) {}

  std::string key(const std::string& name) const { return prefix_.empty() ? name : prefix_ + "." + name; }
  const std::string& origin() const { return origin_; }

  const toml::node* find(const std::string& name) {
    allowed_.insert(name);
    return table_ ? table_->get(name) : nullptr;
  }

  std::optional<double> real(const std::string& name) {
    const toml::node* node = find(name);
    if (!node) return std::nullopt;
    if (auto v = node->value<double>()) return *v;  // integers convert too
    fail(origin_, "'" + key(name) + "' must be a number");
  }

  // A value that may depend on the width k: a number, or a table {scale = c, k_power = p}
  // meaning c·k^p (how the presets write the seed's √k/2, 1/√k, 1/k).
  std::optional<double> k_scaled(const std::string& name, std::int64_t k) {
    const toml::node* node = find(name);
    if (!node) return std::nullopt;
    if (auto v = node->value<double>()) return *v;
    if (const toml::table* t = node->as_table()) {
      TableReader sub(t, key(name), origin_);
      const double scale = sub.real("scale").value_or(1.0);
      const double power = sub.real("k_power").value_or(0.0);
      sub.finish();
      return scale * std::pow(static_cast<double>(k), power);
    }
    fail(origin_, "'" + key(name) + "' must be a number or a table {scale = c, k_power = p}");
  }

  std::optional<std::int64_t> integer(const std::string& name) {
    const toml::node* node = find(name);
    if (!node) return std::nullopt;
    if (auto v = node->value_exact<std::int64_t>()) return *v;
    fail(origin_, "'" + key(name) + "' must be an integer");
  }

  std::optional<std::string> string(const std::string& name) {
    const toml::node* node = find(name);
    if (!node) return std::nullopt;
    if (auto v = node->value_exact<std::string>()) return *v;
    fail(origin_, "'" + key(name) + "' must be a string");
  }

  std::optional<bool> boolean(const std::string& name) {
    const toml::node* node = find(name);
    if (!node) return std::nullopt;
    if (auto v = node->value_exact<bool>()) return *v;
    fail(origin_, "'" + key(name) + "' must be true or false");
  }

  // Whether the table has the key (without allowing it).
  bool has(const std::string& name) const { return table_ && table_->get(name); }

  const toml::table* table(const std::string& name) {
    const toml::node* node = find(name);
    if (!node) return nullptr;
    if (const toml::table* t = node->as_table()) return t;
    fail(origin_, "'" + key(name) + "' must be a table");
  }

  const toml::array* array(const std::string& name) {
    const toml::node* node = find(name);
    if (!node) return nullptr;
    if (const toml::array* a = node->as_array()) return a;
    fail(origin_, "'" + key(name) + "' must be an array");
  }

  // Every key of the table must have been asked for.
  void finish() const {
    if (!table_) return;
    for (const auto& [name, node] : *table_) {
      const std::string n(name.str());
      if (allowed_.count(n)) continue;
      std::string allowed;
      for (const auto& a : allowed_) allowed += (allowed.empty() ? "" : ", ") + a;
      fail(origin_, "unknown key '" + key(n) + "'; allowed here: " + allowed);
    }
  }

 private:
  const toml::table* table_;
  std::string prefix_, origin_;
  std::set<std::string> allowed_;
};

constexpr std::int64_t kInt64Max = std::numeric_limits<std::int64_t>::max();

// What an integer key allows, for messages: "a positive integer", "an integer from 0 to 10".
std::string integer_range(std::int64_t lo, std::int64_t hi) {
  if (lo == 1 && hi == kInt64Max) return "a positive integer";
  return "an integer from " + std::to_string(lo) + " to " + std::to_string(hi);
}

std::int64_t ranged(const std::string& origin, const std::string& key, std::int64_t value, std::int64_t lo,
                    std::int64_t hi = kInt64Max) {
  if (value < lo || value > hi)
    fail(origin, "'" + key + "' = " + std::to_string(value) + " must be " + integer_range(lo, hi));
  return value;
}

double finite(const std::string& origin, const std::string& key, double value) {
  if (!std::isfinite(value)) fail(origin, "'" + key + "' must be finite");
  return value;
}


// Applies one `a.b.c=value` override to the TOML tree. A path component after an array of
// tables names the element whose `name` is that component (runs.ntk.epochs).

std::string format_real(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  std::string s(buf);
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";  // keep it a TOML float
  return s;
}

std::string quoted(const std::string& s) {
  std::ostringstream os;
  os << toml::value<std::string>(s);
  return os.str();
}

}  // namespace

void apply_override(toml::table& root, const std::string& assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw ConfigError("--set '" + assignment + "': expected key=value, e.g. --set data.n=500");
  const std::string path = assignment.substr(0, eq), text = assignment.substr(eq + 1);

  std::vector<std::string> parts;
  std::stringstream ss(path);
  for (std::string part; std::getline(ss, part, '.');) {
    if (part.empty()) throw ConfigError("--set '" + assignment + "': empty key component");
    parts.push_back(part);
  }

  toml::table* table = &root;
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    toml::node* node = table->get(parts[i]);
    if (!node) {
      table = table->insert(parts[i], toml::table{}).first->second.as_table();
      continue;
    }
    if (toml::table* t = node->as_table()) {
      table = t;
      continue;
    }
    toml::array* array = node->as_array();
    if (!array || i + 2 >= parts.size())
      throw ConfigError("--set '" + assignment + "': '" + parts[i] + "' is not a table");
    const std::string& element = parts[++i];
    table = nullptr;
    for (auto& item : *array)
      if (toml::table* t = item.as_table(); t && t->get(std::string("name")) &&
                                            t->get(std::string("name"))->value_or(std::string()) == element)
        table = t;
    if (!table)
      throw ConfigError("--set '" + assignment + "': no entry named '" + element + "' in '" + parts[i - 1] + "'");
  }

  // The value is read as TOML (numbers, booleans, quoted strings, inline tables);
  // anything else is taken as a bare string, so --set runs.ntk.activation=relu works.
  toml::parse_result parsed;
  try {
    parsed = toml::parse("v = " + text);
  } catch (const toml::parse_error&) {
    table->insert_or_assign(parts.back(), text);
    return;
  }
  table->insert_or_assign(parts.back(), *parsed.get("v"));
}

const InputsSpec& Config::inputs_of(const RunSpec& r) const {
  for (const auto& in : inputs)
    if (in.name == r.inputs) return in;
  throw ConfigError("run '" + r.name + "' names unknown inputs '" + r.inputs + "'");
}

std::int64_t Config::singular_count() const {
  return spectrum == SpectrumMethod::full ? std::min(k, d) : spectrum_rank;
}

const RunSpec& Config::run(const std::string& name) const {
  for (const auto& r : runs)
    if (r.name == name) return r;
  throw ConfigError("unknown run '" + name + "'");
}

// [[inputs]] W0, a, q, beta from files: each array's shape (its header alone) checked against the
// sizes, and for a stack of snapshots the row of <name>_epoch found by the stack's epoch scale.
void read_tensors_from_files(const std::string& origin, TableReader& in, const Config& c, InputsSpec& spec) {
  for (std::size_t t = 0; t < std::size(kInputsTensorNames); ++t) {
    const auto tensor = static_cast<InputsTensor>(t);
    const std::string name = kInputsTensorNames[t], key = spec.file_key(tensor);
    const auto text = in.string(name);
    const auto epoch = in.integer(name + "_epoch");
    if (!text) {
      if (epoch) fail(origin, "'" + key + "_epoch' needs '" + key + "', the file to take " + name + " from");
      continue;
    }
    if (tensor == InputsTensor::q && c.data_source == DataSource::file)
      fail(origin, "'" + key + "' does not apply with data.source = \"file\": q is then the data's own (the top right "
                   "singular vector of X)");
    const std::vector<std::int64_t> want = tensor == InputsTensor::W0  ? std::vector<std::int64_t>{c.k, c.d}
                                           : tensor == InputsTensor::a ? std::vector<std::int64_t>{c.k}
                                                    : std::vector<std::int64_t>{c.d};
    const char* sizes = tensor == InputsTensor::W0 ? "model.k x data.d" : tensor == InputsTensor::a ? "model.k" : "data.d";
    TensorFromFile& f = spec.from_file[t];
    f.source = *text;
    // The file's own errors (unreadable, no such dataset) name the key; here they name the origin too.
    auto checked = [&](auto&& read) {
      try {
        return read();
      } catch (const ConfigError& e) {
        fail(origin, e.what());
      }
    };
    {
      const ArraySource source = checked([&] { return parse_array_source(key, f.source); });
      const std::vector<std::int64_t> shape = checked([&] { return array_shape(key, source); });
      const bool one = shape == want, stack = shape.size() == want.size() + 1 &&
                                              std::equal(want.begin(), want.end(), shape.begin() + 1);
      auto dims = [](const std::vector<std::int64_t>& s) {
        std::string out;
        for (std::int64_t x : s) out += (out.empty() ? "" : " x ") + std::to_string(x);
        return s.empty() ? std::string("a scalar") : out;
      };
      if (!one && !stack)
        fail(origin, "'" + key + "' = \"" + f.source + "\" must be " + dims(want) + " (" + sizes +
                         ") or a stack of such arrays; its shape is " + dims(shape));
      if (one && epoch)
        fail(origin, "'" + key + "_epoch' applies to a stack of snapshots; \"" + f.source + "\" holds one array");
      if (stack) {
        const std::vector<std::int64_t> epochs = checked([&] { return stack_epochs(key, source); });
        std::string listed;
        for (std::size_t e = 0; e < epochs.size() && e < 12; ++e) listed += (e ? ", " : "") + std::to_string(epochs[e]);
        if (epochs.size() > 12) listed += ", ... (" + std::to_string(epochs.size()) + ")";
        if (!epoch)
          fail(origin, "'" + key + "' = \"" + f.source + "\" is a stack of " + std::to_string(shape[0]) +
                           " arrays; say which with '" + key + "_epoch' (its epochs: " + listed + ")");
        const auto at = std::find(epochs.begin(), epochs.end(), *epoch);
        if (at == epochs.end() || at - epochs.begin() >= shape[0])
          fail(origin, "'" + key + "_epoch' = " + std::to_string(*epoch) + ": \"" + f.source +
                           "\" holds the epochs " + listed);
        f.epoch = *epoch;
        f.row = at - epochs.begin();
      }
    }
  }
}

// data.source = "file": the arrays' locations and shapes (their headers only: the values are
// read with the inputs, and checked there) give n, d and n_test.
void read_data_files(const std::string& origin, TableReader& data, Config& c) {
  for (const char* key : {"d", "n", "n_test", "alpha", "nu", "spike", "input_noise"})
    if (data.has(key))
      fail(origin, "'data." + std::string(key) + "' does not apply with data.source = \"file\": the data are the "
                   "file's (n and d its shape; no spike model)");
  DataFiles& f = c.data_files;
  const auto x = data.string("x");
  if (!x) fail(origin, "data.source = \"file\" needs 'data.x', e.g. x = \"embeddings.h5:/X\" or \"X.npy\"");
  f.x = *x;
  f.y = data.string("y").value_or("");
  f.x_test = data.string("x_test").value_or("");
  f.y_test = data.string("y_test").value_or("");
  f.center = data.boolean("center").value_or(false);
  f.unit_rows = data.boolean("unit_rows").value_or(false);
  auto shape = [&](const char* key, const std::string& text) {
    const std::string name = std::string("data.") + key;
    try {
      return array_shape(name, parse_array_source(name, text));
    } catch (const ConfigError& e) {
      fail(origin, e.what());
    }
  };
  auto dims = [](const std::vector<std::int64_t>& s) {
    std::string out;
    for (std::int64_t extent : s) out += (out.empty() ? "" : ", ") + std::to_string(extent);
    return "(" + out + ")";
  };
  const auto xs = shape("x", f.x);
  if (xs.size() != 2 || xs[0] < 1 || xs[1] < 1)
    fail(origin, "'data.x' must be a matrix n x d with n, d >= 1; its shape is " + dims(xs));
  c.n = xs[0];
  c.d = xs[1];
  c.n_test = c.n;  // without x_test, the test set is the training set
  // A label vector: n values, as (n) or (n, 1).
  auto labels = [&](const char* key, const std::string& text, std::int64_t rows) {
    const auto ys = shape(key, text);
    if (!((ys.size() == 1 && ys[0] == rows) || (ys.size() == 2 && ys[0] == rows && ys[1] == 1)))
      fail(origin, "'data." + std::string(key) + "' must hold " + std::to_string(rows) + " labels, one per row of its X; its shape is " + dims(ys));
  };
  if (!f.y.empty()) labels("y", f.y, c.n);
  if (!f.x_test.empty()) {
    const auto ts = shape("x_test", f.x_test);
    if (ts.size() != 2 || ts[0] < 1 || ts[1] != c.d)
      fail(origin, "'data.x_test' must be a matrix with d = " + std::to_string(c.d) + " columns, as data.x; its shape is " + dims(ts));
    c.n_test = ts[0];
  }
  if (!f.y_test.empty()) {
    if (f.x_test.empty()) fail(origin, "'data.y_test' needs 'data.x_test' (without it the test set is the training set)");
    labels("y_test", f.y_test, c.n_test);
  }
  if (!f.y.empty() && !f.x_test.empty() && f.y_test.empty())
    fail(origin, "'data.y' is given with 'data.x_test' but 'data.y_test' is not: give both label files, or neither "
                 "(the teacher labels both sets)");
  if (f.y.empty() && !f.y_test.empty())
    fail(origin, "'data.y_test' is given but 'data.y' is not: give both label files, or neither (the teacher labels both sets)");
}

// A regulariser's strength λ: finite and >= 0 (0 is off).
double strength(const std::string& origin, const std::string& key, double value) {
  if (!(finite(origin, key, value) >= 0)) fail(origin, "'" + key + "' = " + format_real(value) + " must be >= 0 (0 is off)");
  return value;
}

// The optimiser's keys, each with the optimisers it applies to (SPEC §11).
struct OptimizerKey {
  const char* name;
  bool (*applies)(OptimizerKind);
  const char* to;  // for messages
};
constexpr OptimizerKey kOptimizerKeys[] = {
    {"momentum", [](OptimizerKind o) { return o == OptimizerKind::momentum; }, "momentum"},
    {"nesterov", [](OptimizerKind o) { return o == OptimizerKind::momentum; }, "momentum"},
    {"beta1", [](OptimizerKind o) { return o == OptimizerKind::adam || o == OptimizerKind::adamw; }, "adam and adamw"},
    {"beta2", [](OptimizerKind o) { return o == OptimizerKind::adam || o == OptimizerKind::adamw; }, "adam and adamw"},
    {"eps", [](OptimizerKind o) { return o == OptimizerKind::adam || o == OptimizerKind::adamw; }, "adam and adamw"},
    {"decoupled_weight_decay", [](OptimizerKind o) { return o == OptimizerKind::adamw; }, "adamw"},
};

// A table's optimiser keys over `o` (the [model] defaults, or a run's own over them), each
// checked; `given` receives the keys the table sets.
OptimizerSpec read_optimizer(const std::string& origin, TableReader& t, OptimizerSpec o, std::vector<std::string>& given) {
  if (auto name = t.string("optimizer")) o.kind = parse_enum(origin, t.key("optimizer"), *name, kOptimizerNames);
  const auto fraction = [&](const char* name, double& value) {
    if (auto v = t.real(name)) {
      value = finite(origin, t.key(name), *v);
      if (!(value >= 0 && value < 1))
        fail(origin, "'" + t.key(name) + "' = " + format_real(value) + " must be in [0, 1)");
    }
  };
  fraction("momentum", o.momentum);
  fraction("beta1", o.beta1);
  fraction("beta2", o.beta2);
  if (auto v = t.boolean("nesterov")) o.nesterov = *v;
  if (auto v = t.real("eps")) {
    o.eps = finite(origin, t.key("eps"), *v);
    if (o.eps < 0) fail(origin, "'" + t.key("eps") + "' = " + format_real(o.eps) + " must be >= 0");
  }
  if (auto v = t.real("decoupled_weight_decay"))
    o.decoupled_weight_decay = strength(origin, t.key("decoupled_weight_decay"), *v);
  for (const OptimizerKey& key : kOptimizerKeys)
    if (t.has(key.name)) given.push_back(key.name);
  return o;
}

// A run's optimiser keys must apply to its optimiser; torch.optim's own refusals too.
void check_optimizer(const std::string& origin, const RunSpec& r, const std::vector<std::string>& given) {
  for (const OptimizerKey& key : kOptimizerKeys)
    if (std::find(given.begin(), given.end(), key.name) != given.end() && !key.applies(r.optimizer.kind))
      fail(origin, "'runs." + r.name + "." + key.name + "' applies to " + key.to + ", not to optimizer = \"" +
                       to_string(r.optimizer.kind) + "\"");
  if (r.optimizer.kind == OptimizerKind::momentum && r.optimizer.nesterov && !(r.optimizer.momentum > 0))
    fail(origin, "run '" + r.name + "': nesterov = true needs momentum > 0 (as torch.optim.SGD)");
}

Config parse_config(const std::string& toml_text, const std::string& origin,
                    const std::vector<std::string>& overrides) {
  toml::table root;
  try {
    root = toml::parse(toml_text, origin);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    fail(origin, "line " + std::to_string(where.line) + ", column " + std::to_string(where.column) +
                     ": " + std::string(e.description()));
  }
  for (const auto& o : overrides) apply_override(root, o);

  Config c;
  if (root.contains("sweep"))
    fail(origin, "has a [sweep] table: it is a sweep; run it with `engine sweep` (--exp or --config), or remove [sweep]");
  TableReader top(&root, "", origin);
  c.experiment = top.string("experiment").value_or("custom");
  check_name(origin, "experiment", c.experiment);
  c.description = top.string("description").value_or("");
  if (auto seed = top.integer("seed")) c.seed = static_cast<std::uint64_t>(ranged(origin, "seed", *seed, 0));
  if (auto p = top.string("precision")) c.precision = parse_enum(origin, "precision", *p, kPrecisionNames);

  TableReader data(top.table("data"), "data", origin);
  c.data_source = parse_enum(origin, "data.source", data.string("source").value_or("model"), kDataSourceNames);
  if (c.data_source == DataSource::file) {
    read_data_files(origin, data, c);
  } else {
    for (const char* key : {"x", "y", "x_test", "y_test", "center", "unit_rows"})
      if (data.has(key)) fail(origin, "'data." + std::string(key) + "' needs data.source = \"file\"");
    c.d = ranged(origin, "data.d", data.integer("d").value_or(1000), 1);
    c.n = ranged(origin, "data.n", data.integer("n").value_or(750), 1);
    c.n_test = ranged(origin, "data.n_test", data.integer("n_test").value_or(c.n), 1);
  }
  c.alpha = finite(origin, "data.alpha", data.real("alpha").value_or(0.0));
  if (c.alpha < 0) fail(origin, "'data.alpha' must be >= 0 (bulk covariance i^(-alpha))");
  c.nu = finite(origin, "data.nu", data.real("nu").value_or(0.0));
  if (!std::isfinite(std::pow(static_cast<double>(std::max(c.n, c.n_test)), c.nu)))
    fail(origin, "'data.nu' = " + format_real(c.nu) + " makes the spike strength n^nu overflow (n = " +
                     std::to_string(std::max(c.n, c.n_test)) + ")");
  c.tau = finite(origin, "data.tau", data.real("tau").value_or(1.0));
  if (c.tau < 0) fail(origin, "'data.tau' = " + format_real(c.tau) + " must be >= 0 (teacher noise)");
  c.spike = data.boolean("spike").value_or(true);
  c.input_noise = finite(origin, "data.input_noise", data.real("input_noise").value_or(0.0));
  if (c.input_noise < 0)
    fail(origin, "'data.input_noise' = " + format_real(c.input_noise) + " must be >= 0 (the noise's standard deviation)");
  data.finish();

  TableReader model(top.table("model"), "model", origin);
  c.k = ranged(origin, "model.k", model.integer("k").value_or(1250), 1);
  c.a_init = parse_enum(origin, "model.a_init", model.string("a_init").value_or("normal"), kAInitNames);
  c.loss = parse_enum(origin, "model.loss", model.string("loss").value_or("mse"), kLossNames);
  c.w_init = parse_enum(origin, "model.w_init", model.string("w_init").value_or("unit_rows"), kWInitNames);
  c.w_scale = finite(origin, "model.w_scale", model.real("w_scale").value_or(1.0));
  if (!(c.w_scale > 0)) fail(origin, "'model.w_scale' = " + format_real(c.w_scale) + " must be > 0");
  const bool normalize_default = model.boolean("normalize_rows").value_or(true);
  c.weight_decay = strength(origin, "model.weight_decay", model.real("weight_decay").value_or(0.0));
  c.gradient_penalty = strength(origin, "model.gradient_penalty", model.real("gradient_penalty").value_or(0.0));
  std::vector<std::string> model_optimizer_keys;
  c.optimizer = read_optimizer(origin, model, c.optimizer, model_optimizer_keys);
  model.finish();

  TableReader decomposition(top.table("decomposition"), "decomposition", origin);
  c.decomposition_every =
      ranged(origin, "decomposition.every", decomposition.integer("every").value_or(0), 0, kMaxEpochs);
  c.n_mu = ranged(origin, "decomposition.n_mu", decomposition.integer("n_mu").value_or(c.n_mu), 1);
  const bool own_data = c.data_source == DataSource::file;  // no data model to sample or integrate
  c.mu_source = parse_enum(origin, "decomposition.mu_source",
                           decomposition.string("mu_source").value_or(own_data ? "train" : "fresh"), kMuSourceNames);
  if (own_data && c.mu_source != MuSource::train)
    fail(origin, "'decomposition.mu_source' = \"" + std::string(to_string(c.mu_source)) +
                     "\" needs the data model; with data.source = \"file\" mu is averaged over the training X "
                     "(mu_source = \"train\")");
  decomposition.finish();

  TableReader spectrum(top.table("spectrum"), "spectrum", origin);
  c.spectrum = parse_enum(origin, "spectrum.method", spectrum.string("method").value_or("full"), kSpectrumMethodNames);
  c.spectrum_rank = ranged(origin, "spectrum.rank", spectrum.integer("rank").value_or(c.spectrum_rank), 1);
  if (c.spectrum == SpectrumMethod::truncated && c.spectrum_rank > std::min(c.k, c.d))
    fail(origin, "'spectrum.rank' = " + std::to_string(c.spectrum_rank) + " must be at most min(model.k, data.d) = " +
                     std::to_string(std::min(c.k, c.d)));
  spectrum.finish();

  TableReader output(top.table("output"), "output", origin);
  c.heavy_every = ranged(origin, "output.heavy_every", output.integer("heavy_every").value_or(1), 1, kMaxEpochs);
  c.alignments = output.boolean("alignments").value_or(false);
  c.snapshot_every = ranged(origin, "output.snapshot_every", output.integer("snapshot_every").value_or(0), 0, kMaxEpochs);
  c.snapshot_rank = ranged(origin, "output.snapshot_rank", output.integer("snapshot_rank").value_or(std::min<std::int64_t>(c.snapshot_rank, std::min(c.k, c.d))), 1,
                           std::min(c.k, c.d));
  output.finish();

  const std::int64_t epochs_default = ranged(origin, "epochs", top.integer("epochs").value_or(100), 0, kMaxEpochs);

  if (const toml::array* arr = top.array("inputs")) {
    for (std::size_t i = 0; i < arr->size(); ++i) {
      const std::string prefix = "inputs[" + std::to_string(i) + "]";
      const toml::table* t = (*arr)[i].as_table();
      if (!t) fail(origin, "'" + prefix + "' must be a table");
      TableReader in(t, prefix, origin);
      InputsSpec spec;
      spec.name = in.string("name").value_or("");
      check_name(origin, prefix + ".name", spec.name);
      const std::string teacher = in.string("teacher").value_or("sigmoid");
      spec.triple_index = teacher == kTripleIndexTeacher;
      if (!spec.triple_index) {
        try {
          spec.teacher = parse_enum(origin, "inputs." + spec.name + ".teacher", teacher, kActivationNames);
        } catch (const ConfigError& e) {
          throw ConfigError(e.what() + std::string(", ") + kTripleIndexTeacher);
        }
      }
      spec.beta_init = parse_enum(origin, "inputs." + spec.name + ".beta_init",
                                  in.string("beta_init").value_or("unit"), kBetaInitNames);
      const std::string noise_key = "inputs." + spec.name + ".input_noise";
      spec.input_noise = finite(origin, noise_key, in.real("input_noise").value_or(c.input_noise));
      if (spec.input_noise != 0 && c.data_source == DataSource::file)
        fail(origin, "'" + noise_key + "' does not apply with data.source = \"file\": the data are the file's");
      if (spec.input_noise < 0)
        fail(origin, "'" + noise_key + "' = " + format_real(spec.input_noise) +
                         " must be >= 0 (the noise's standard deviation)");
      spec.index = static_cast<int>(i);
      read_tensors_from_files(origin, in, c, spec);
      in.finish();
      for (const auto& other : c.inputs)
        if (other.name == spec.name) fail(origin, "two [[inputs]] are named '" + spec.name + "'");
      c.inputs.push_back(spec);
    }
  }
  if (c.inputs.empty()) {
    InputsSpec& main = c.inputs.emplace_back();
    main.name = "main";
    main.input_noise = c.input_noise;
  }
  // bce's labels are the teacher's values, which must be probabilities: the sigmoid teacher's.
  if (c.loss == Loss::bce && c.data_files.y.empty())
    for (const auto& in : c.inputs)
      if (in.triple_index || in.teacher != Activation::sigmoid)
        fail(origin, "'model.loss' = \"bce\" takes labels in [0, 1], but inputs '" + in.name + "' has the teacher '" +
                         in.teacher_name() + "', whose values leave [0, 1]; use teacher = \"sigmoid\" (or another loss)");

  const toml::array* runs = top.array("runs");
  if (!runs || runs->empty()) fail(origin, "no runs: add at least one [[runs]] table");
  for (std::size_t i = 0; i < runs->size(); ++i) {
    const toml::table* t = (*runs)[i].as_table();
    if (!t) fail(origin, "'runs[" + std::to_string(i) + "]' must be a table");
    RunSpec r;
    r.name = TableReader(t, "", origin).string("name").value_or("");
    check_name(origin, "runs[" + std::to_string(i) + "].name", r.name);
    TableReader run(t, "runs." + r.name, origin);
    run.string("name");
    r.inputs = run.string("inputs").value_or(c.inputs.front().name);
    r.cell = run.string("cell").value_or("");
    if (!r.cell.empty()) check_name(origin, run.key("cell"), r.cell);
    r.activation = parse_enum(origin, run.key("activation"), run.string("activation").value_or("sigmoid"),
                              kActivationNames);
    r.epochs = ranged(origin, run.key("epochs"), run.integer("epochs").value_or(epochs_default), 0, kMaxEpochs);
    r.normalize_rows = run.boolean("normalize_rows").value_or(normalize_default);
    r.weight_decay = strength(origin, run.key("weight_decay"), run.real("weight_decay").value_or(c.weight_decay));
    r.gradient_penalty =
        strength(origin, run.key("gradient_penalty"), run.real("gradient_penalty").value_or(c.gradient_penalty));
    std::vector<std::string> optimizer_keys;
    r.optimizer = read_optimizer(origin, run, c.optimizer, optimizer_keys);
    check_optimizer(origin, r, optimizer_keys);

    const auto gamma = run.k_scaled("gamma", c.k), gamma_nb = run.k_scaled("gamma_nb", c.k);
    const auto lr = run.k_scaled("lr", c.k), lr_nb = run.k_scaled("lr_nb", c.k);
    if (gamma.has_value() == gamma_nb.has_value())
      fail(origin, "run '" + r.name + "' needs exactly one of 'gamma' (the engine's γ) or 'gamma_nb' (the seed's)");
    if (lr.has_value() == lr_nb.has_value())
      fail(origin, "run '" + r.name + "' needs exactly one of 'lr' (the engine's η) or 'lr_nb' (the seed's)");
    if (lr_nb && !gamma_nb)
      fail(origin, "run '" + r.name + "': 'lr_nb' maps to η = lr_nb/gamma_nb and so needs 'gamma_nb'");
    if (gamma_nb) {
      if (!(*gamma_nb > 0) || !std::isfinite(*gamma_nb))
        fail(origin, "'" + run.key("gamma_nb") + "' = " + format_real(*gamma_nb) + " must be > 0");
      r.gamma_nb = gamma_nb;
      r.gamma = *gamma_nb * *gamma_nb;  // the seed's forward multiplies by its gamma twice
    } else {
      r.gamma = *gamma;
    }
    if (!(r.gamma > 0) || !std::isfinite(r.gamma))
      fail(origin, "'" + run.key("gamma") + "' = " + format_real(r.gamma) + " must be > 0");
    if (lr_nb) {
      r.lr_nb = lr_nb;
      r.lr = *lr_nb / *gamma_nb;  // the seed steps W -= lr/gamma · grad
    } else {
      r.lr = *lr;
    }
    if (!(r.lr > 0) || !std::isfinite(r.lr))
      fail(origin, "'" + run.key(lr_nb ? "lr_nb" : "lr") + "' must give a learning rate > 0");
    run.finish();

    bool known_inputs = false;
    for (const auto& in : c.inputs) known_inputs |= in.name == r.inputs;
    if (!known_inputs) fail(origin, "'" + run.key("inputs") + "' = \"" + r.inputs + "\" names no [[inputs]] entry");
    for (const auto& other : c.runs)
      if (other.name == r.name) fail(origin, "two runs are named '" + r.name + "'");
    c.runs.push_back(r);
  }
  // A default in [model] that no run's optimiser takes is a mistake, not a silent no-op.
  for (const OptimizerKey& key : kOptimizerKeys) {
    if (std::find(model_optimizer_keys.begin(), model_optimizer_keys.end(), key.name) == model_optimizer_keys.end())
      continue;
    if (std::none_of(c.runs.begin(), c.runs.end(), [&](const RunSpec& r) { return key.applies(r.optimizer.kind); }))
      fail(origin, "'model." + std::string(key.name) + "' applies to " + key.to + ", and no run trains with " +
                       (std::string(key.to).find(' ') == std::string::npos ? "it" : "them"));
  }

  if (const toml::array* pairs = top.array("pairs")) {
    for (std::size_t i = 0; i < pairs->size(); ++i) {
      const std::string key = "pairs[" + std::to_string(i) + "]";
      const toml::array* p = (*pairs)[i].as_array();
      if (!p || p->size() != 2 || !(*p)[0].is_string() || !(*p)[1].is_string())
        fail(origin, "'" + key + "' must be two run names, e.g. [\"ntk\", \"mf\"]");
      PairSpec pair{*(*p)[0].value<std::string>(), *(*p)[1].value<std::string>()};
      if (pair.a == pair.b) fail(origin, "'" + key + "' pairs run '" + pair.a + "' with itself");
      for (const auto& other : c.pairs)
        if ((other.a == pair.a && other.b == pair.b) || (other.a == pair.b && other.b == pair.a))
          fail(origin, "'" + key + "' repeats the pair of '" + pair.a + "' and '" + pair.b + "'");
      for (const auto* name : {&pair.a, &pair.b}) {
        bool found = false;
        for (const auto& r : c.runs) found |= r.name == *name;
        if (!found) fail(origin, "'" + key + "' names unknown run '" + *name + "'");
      }
      c.pairs.push_back(pair);
    }
  }
  top.finish();
  return c;
}

void select_cells(Config& config, const std::vector<std::string>& cells) {
  std::set<std::string> known;
  for (const auto& r : config.runs)
    if (!r.cell.empty()) known.insert(r.cell);
  if (known.empty()) throw ConfigError("--cells: experiment '" + config.experiment + "' has no cells");
  for (const auto& cell : cells) {
    if (known.count(cell)) continue;
    std::string allowed;
    for (const auto& k : known) allowed += (allowed.empty() ? "" : ", ") + k;
    throw ConfigError("--cells: unknown cell '" + cell + "'; cells of '" + config.experiment + "': " + allowed);
  }
  const std::set<std::string> wanted(cells.begin(), cells.end());
  std::erase_if(config.runs, [&](const RunSpec& r) { return !wanted.count(r.cell); });
  std::erase_if(config.pairs, [&](const PairSpec& p) {
    return !std::any_of(config.runs.begin(), config.runs.end(), [&](const RunSpec& r) { return r.name == p.a; }) ||
           !std::any_of(config.runs.begin(), config.runs.end(), [&](const RunSpec& r) { return r.name == p.b; });
  });
  std::erase_if(config.inputs, [&](const InputsSpec& in) {
    return std::none_of(config.runs.begin(), config.runs.end(), [&](const RunSpec& r) { return r.inputs == in.name; });
  });
}

void set_epochs(Config& config, std::int64_t epochs) {
  if (epochs < 0 || epochs > kMaxEpochs)
    throw ConfigError("--epochs '" + std::to_string(epochs) + "' must be " + integer_range(0, kMaxEpochs));
  for (auto& r : config.runs) r.epochs = epochs;
}

std::vector<ConfigWarning> config_warnings(const Config& config) {
  std::vector<ConfigWarning> out;
  for (const auto& r : config.runs) {
    if (!(r.weight_decay > 0) || !r.normalize_rows) continue;
    // W − η(∇ + λW) = (1 − ηλ)(W − η/(1 − ηλ) ∇), and the renormalisation forgets the factor.
    const double factor = 1 - r.lr * r.weight_decay;
    std::ostringstream line;
    line << "run '" << r.name << "': weight_decay = " << r.weight_decay
         << " with normalize_rows = true: the rows are renormalised to unit norm after every step, so the decay "
            "does not shrink W; it only scales the step, ";
    if (factor > 0)
      line << "as lr = " << r.lr / factor << " in place of " << r.lr << " would (eta / (1 - eta lambda))";
    else if (factor < 0)
      line << "and with lr x weight_decay = " << r.lr * r.weight_decay << " > 1 the step reverses W";
    else
      line << "and with lr x weight_decay = 1 the step replaces W by -lr times the gradient";
    line << "; its term, and lambda W in the gradient's spectrum, are recorded as asked";
    out.push_back({r.name, line.str()});
  }
  return out;
}

std::int64_t parse_integer(const std::string& what, const std::string& text, std::int64_t lo, std::int64_t hi) {
  std::int64_t value = 0;
  const char* end = text.data() + text.size();
  const auto [stop, error] = std::from_chars(text.data(), end, value);
  const bool whole = !text.empty() && stop == end;
  if (whole && error == std::errc() && value >= lo && value <= hi) return value;
  const std::string shown = text.size() > 40 ? text.substr(0, 40) + "..." : text;
  throw ConfigError(what + " '" + shown + "' must be " + integer_range(lo, hi) +
                    (whole && error == std::errc::result_out_of_range ? " (it is out of range)"
                     : whole                                          ? ""
                                                                      : " (it is not a whole number)"));
}

std::string Config::to_toml() const {
  std::ostringstream os;
  os << "experiment = " << quoted(experiment) << "\n";
  if (!description.empty()) os << "description = " << quoted(description) << "\n";
  os << "seed = " << seed << "\nprecision = \"" << to_string(precision) << "\"\n";
  os << "pairs = [";  // top-level keys must come before the first table
  for (std::size_t i = 0; i < pairs.size(); ++i)
    os << (i ? ", " : "") << "[" << quoted(pairs[i].a) << ", " << quoted(pairs[i].b) << "]";
  os << "]\n\n";
  if (data_source == DataSource::file) {
    os << "[data]\nsource = \"file\"\nx = " << quoted(data_files.x);
    for (const auto& [key, value] : {std::pair{"y", &data_files.y}, {"x_test", &data_files.x_test}, {"y_test", &data_files.y_test}})
      if (!value->empty()) os << "\n" << key << " = " << quoted(*value);
    os << "\ncenter = " << (data_files.center ? "true" : "false") << "\nunit_rows = "
       << (data_files.unit_rows ? "true" : "false") << "\ntau = " << format_real(tau) << "\n\n";
  } else {
    os << "[data]\nd = " << d << "\nn = " << n << "\nn_test = " << n_test << "\nalpha = " << format_real(alpha)
       << "\nnu = " << format_real(nu) << "\ntau = " << format_real(tau) << "\nspike = " << (spike ? "true" : "false")
       << "\ninput_noise = " << format_real(input_noise) << "\n\n";
  }
  os << "[model]\nk = " << k << "\na_init = \"" << to_string(a_init) << "\"\nw_init = \"" << to_string(w_init)
     << "\"\nw_scale = " << format_real(w_scale) << "\nloss = \"" << to_string(loss)
     << "\"\nweight_decay = " << format_real(weight_decay) << "\ngradient_penalty = " << format_real(gradient_penalty)
     << "\n\n";
  os << "[decomposition]\nevery = " << decomposition_every << "\nn_mu = " << n_mu << "\nmu_source = \""
     << to_string(mu_source) << "\"\n\n";
  os << "[spectrum]\nmethod = \"" << to_string(spectrum) << "\"\nrank = " << spectrum_rank << "\n\n";
  os << "[output]\nheavy_every = " << heavy_every << "\nalignments = " << (alignments ? "true" : "false")
     << "\nsnapshot_every = " << snapshot_every << "\nsnapshot_rank = " << snapshot_rank << "\n";
  for (const auto& in : inputs) {
    os << "\n[[inputs]]\nname = " << quoted(in.name) << "\nteacher = \"" << in.teacher_name() << "\"\nbeta_init = \""
       << to_string(in.beta_init) << "\"\n"
       << (data_source == DataSource::model ? "input_noise = " + format_real(in.input_noise) + "\n" : "");
    for (std::size_t t = 0; t < in.from_file.size(); ++t) {
      const TensorFromFile& f = in.from_file[t];
      if (f.source.empty()) continue;
      os << kInputsTensorNames[t] << " = " << quoted(f.source) << "\n";
      if (f.epoch >= 0) os << kInputsTensorNames[t] << "_epoch = " << f.epoch << "\n";
    }
  }
  for (const auto& r : runs) {
    os << "\n[[runs]]\nname = " << quoted(r.name) << "\ninputs = " << quoted(r.inputs) << "\n";
    if (!r.cell.empty()) os << "cell = " << quoted(r.cell) << "\n";
    os << "activation = \"" << to_string(r.activation) << "\"\nepochs = " << r.epochs
       << "\nnormalize_rows = " << (r.normalize_rows ? "true" : "false")
       << "\nweight_decay = " << format_real(r.weight_decay) << "\ngradient_penalty = " << format_real(r.gradient_penalty)
       << "\n";
    const OptimizerSpec& o = r.optimizer;
    if (o.kind != OptimizerKind::gd) os << "optimizer = \"" << to_string(o.kind) << "\"\n";  // gd: today's text
    if (o.kind == OptimizerKind::momentum)
      os << "momentum = " << format_real(o.momentum) << "\nnesterov = " << (o.nesterov ? "true" : "false") << "\n";
    if (o.adam())
      os << "beta1 = " << format_real(o.beta1) << "\nbeta2 = " << format_real(o.beta2) << "\neps = " << format_real(o.eps)
         << "\n";
    if (o.kind == OptimizerKind::adamw) os << "decoupled_weight_decay = " << format_real(o.decoupled_weight_decay) << "\n";
    // The seed's nominal values where given (they resolve to the same γ and η bit for bit),
    // the engine's γ and η otherwise; what ran is noted beside them.
    if (r.gamma_nb) os << "gamma_nb = " << format_real(*r.gamma_nb) << "\n";
    else os << "gamma = " << format_real(r.gamma) << "\n";
    if (r.lr_nb) os << "lr_nb = " << format_real(*r.lr_nb) << "\n";
    else os << "lr = " << format_real(r.lr) << "\n";
    if (r.gamma_nb || r.lr_nb) os << "# resolved: gamma = " << format_real(r.gamma) << ", lr = " << format_real(r.lr) << "\n";
  }
  return os.str();
}

void check_name(const std::string& origin, const std::string& key, const std::string& name) {
  auto plain = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  const bool allowed = !name.empty() && name.size() <= kMaxNameLength && plain(name.front()) &&
                       std::all_of(name.begin(), name.end(), [&](char c) { return plain(c) || c == '-' || c == '.'; });
  if (!allowed || name.find("__") != std::string::npos) {
    const std::string shown = name.size() > 40 ? name.substr(0, 40) + "...\" (" + std::to_string(name.size()) +
                                                     " characters)"
                                               : name + "\"";
    fail(origin, "'" + key + "' = \"" + shown + " must start with a letter, digit or '_' and hold only letters, " +
                     "digits, '_', '-' or '.' (at most " + std::to_string(kMaxNameLength) +
                     " characters, and no '__', which joins pair names)");
  }
}

std::vector<std::vector<std::size_t>> side_by_side_groups(const Config& config) {
  const std::size_t runs = config.runs.size();
  std::vector<std::size_t> parent(runs);
  std::iota(parent.begin(), parent.end(), 0);
  auto root = [&](std::size_t i) {
    while (parent[i] != i) i = parent[i] = parent[parent[i]];
    return i;
  };
  auto index = [&](const std::string& name) {
    for (std::size_t i = 0; i < runs; ++i)
      if (config.runs[i].name == name) return i;
    return runs;
  };
  for (const auto& p : config.pairs) parent[root(index(p.a))] = root(index(p.b));
  std::vector<std::vector<std::size_t>> groups;
  std::vector<std::size_t> group_of(runs, runs);
  for (std::size_t i = 0; i < runs; ++i) {
    const std::size_t r = root(i);
    if (group_of[r] == runs) {
      group_of[r] = groups.size();
      groups.emplace_back();
    }
    groups[group_of[r]].push_back(i);
  }
  return groups;
}

}  // namespace lowrank
