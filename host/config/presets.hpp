// The preset experiments: data/experiments/<name>.toml, found through $LOWRANK_PRESETS or the
// folder the build was configured with.
#pragma once

#include <string>
#include <vector>

namespace lowrank {

struct PresetInfo {
  std::string name, description;
  bool sweep = false;  // has a [sweep] table: run with `engine sweep --exp NAME`
};

std::string presets_dir();
std::vector<PresetInfo> list_presets();
// The preset's TOML text; a ConfigError naming the known presets when there is none.
std::string read_preset(const std::string& name);

}  // namespace lowrank
