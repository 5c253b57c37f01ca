#include "presets.hpp"

#include <toml++/toml.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "config.hpp"

namespace fs = std::filesystem;

namespace lowrank {

std::string presets_dir() {
  if (const char* env = std::getenv("LOWRANK_PRESETS"); env && *env) return env;
  return LOWRANK_PRESETS_DIR;
}

std::vector<PresetInfo> list_presets() {
  std::vector<PresetInfo> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(presets_dir(), ec)) {
    if (entry.path().extension() != ".toml") continue;
    PresetInfo p{entry.path().stem().string(), ""};
    try {
      const toml::table preset = toml::parse_file(entry.path().string());
      p.description = preset["description"].value_or(std::string());
      p.sweep = preset.contains("sweep");
    } catch (const toml::parse_error&) {
      p.description = "(unreadable preset file)";
    }
    out.push_back(p);
  }
  std::sort(out.begin(), out.end(), [](const PresetInfo& a, const PresetInfo& b) { return a.name < b.name; });
  return out;
}

std::string read_preset(const std::string& name) {
  const auto presets = list_presets();
  const bool known = std::any_of(presets.begin(), presets.end(), [&](const PresetInfo& p) { return p.name == name; });
  if (!known) {
    std::string allowed;
    for (const auto& p : presets) allowed += (allowed.empty() ? "" : ", ") + p.name;
    throw ConfigError("--exp: unknown preset '" + name + "'; presets in " + presets_dir() + ": " +
                      (allowed.empty() ? "(none)" : allowed));
  }
  std::ifstream f(fs::path(presets_dir()) / (name + ".toml"));
  std::stringstream ss;
  ss << f.rdbuf();
  if (!f) throw ConfigError("--exp: cannot read preset '" + name + "'");
  return ss.str();
}

}  // namespace lowrank
