// SIGINT and SIGTERM ask the engine to stop after the epoch in flight, keeping every finished
// epoch; a second one ends it at once (the default action).
#pragma once

namespace lowrank {

void install_stop_handlers();
// The signal that asked to stop, or 0.
int stop_signal();

}  // namespace lowrank
