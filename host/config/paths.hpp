// Every path the engine reads or writes is examined through error codes before it is opened, so
// that a link that does not resolve, a link loop, a FIFO, a device, a folder, a name too long for
// the file system or a folder on /proc is refused with a ConfigError naming the option and the
// path, instead of a crash, a hang or a file half made.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>

namespace lowrank {

// What the engine puts beside an output file `F`: `F.lock` while it writes F (file_lock.hpp), and
// `F.part` while it sets up a new F (staged_output.hpp). Both names are the engine's own.
inline constexpr const char* kLockSuffix = ".lock";
inline constexpr const char* kPartSuffix = ".part";

// The contents of the regular file `path` (at most `max_bytes`), read for `option` ("--config").
std::string read_regular_file(const std::string& option, const std::string& path, std::size_t max_bytes);

// A file to continue in place (--resume): its own path (a link resolved to its target), checked
// to be a writable regular file in a writable folder whose name leaves room for its lock's.
std::filesystem::path existing_output(const std::string& option, const std::string& path);

// A file to create (--out), or to replace when `replace` (--force): its own path (a link to a
// file resolved), checked to be new or a regular file, in an existing writable folder on a disk
// (not /proc, /sys and their kin), with a name that leaves room for the engine's suffixes.
std::filesystem::path new_output(const std::string& option, const std::string& path, bool replace);

// Why `path` is not a regular file to read (a link followed), as a message's predicate ("does
// not exist", "is a symbolic link loop ...", "is a FIFO, not a file"); "" when it is one.
std::string not_a_regular_file(const std::string& path);

// `path` as messages show it: long names shortened, with their length.
std::string shown(const std::string& path);

// `s` as a POSIX shell word: as it is when plain, else in single quotes (the file's command_line).
std::string shell_quote(const std::string& s);

}  // namespace lowrank
