// The configuration's TOML before it is read: a `--set key=value` applied to the parsed table,
// for what edits a configuration's text besides parse_config (a sweep's cells).
#pragma once

#include <toml++/toml.h>

#include <string>

namespace lowrank {

// Sets `key.path=value` in `root` (runs and inputs entries by name: runs.ntk.epochs=3); the value
// is read as TOML, or else taken as a bare string. A ConfigError for a malformed assignment.
void apply_override(toml::table& root, const std::string& assignment);

}  // namespace lowrank
