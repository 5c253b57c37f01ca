// Runs the engine executable in a fresh folder and captures its exit code and output.
#pragma once

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace lowrank::testing {

struct EngineResult {
  int exit_code = -1;
  std::string out, err;
};

// A fresh folder under the system's temporary folder, removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "lowrank-test-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::vector<std::string> listing() const {
    std::vector<std::string> names;
    for (const auto& e : std::filesystem::recursive_directory_iterator(path_)) names.push_back(e.path().string());
    return names;
  }

 private:
  std::filesystem::path path_;
};

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Runs `LOWRANK_ENGINE args` with `cwd` as working folder; output goes to files outside it.
inline EngineResult run_engine(const std::string& args, const std::filesystem::path& cwd) {
  static TempDir logs;
  const auto out = logs.path() / "out.txt", err = logs.path() / "err.txt";
  const std::string command = "cd '" + cwd.string() + "' && '" LOWRANK_ENGINE "' " + args + " > '" + out.string() +
                              "' 2> '" + err.string() + "' < /dev/null";
  const int status = std::system(command.c_str());
  EngineResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = slurp(out);
  r.err = slurp(err);
  return r;
}

}  // namespace lowrank::testing
