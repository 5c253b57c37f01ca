// `engine sweep ...`: the sweep subcommand (SPEC §10), given the arguments after "sweep".
#pragma once

namespace lowrank {

int sweep_main(int argc, char** argv);

}  // namespace lowrank
