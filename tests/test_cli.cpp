// The engine's command line on bad input: every kind gets a message naming what is wrong,
// exit code 2, and nothing created or touched. Plus a short good run.
#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <sstream>

#include "engine_process.hpp"

namespace lowrank {
namespace {

using testing::run_engine;
using testing::TempDir;

struct BadInput {
  const char* name;
  std::string args;
  const char* message;
};

void PrintTo(const BadInput& b, std::ostream* os) { *os << b.name; }

std::string case_name(const ::testing::TestParamInfo<BadInput>& p) { return p.param.name; }

class BadInputTest : public ::testing::TestWithParam<BadInput> {};

TEST_P(BadInputTest, ExitsTwoNamingTheProblemAndCreatesNothing) {
  TempDir dir;
  std::filesystem::create_directory(dir.path() / "sub");
  {
    std::ofstream(dir.path() / "bad.toml") << "experiment = \"x\"\n[data\nn = 3\n";
    std::ofstream(dir.path() / "taken.h5") << "precious";
  }
  const auto before = dir.listing();
  const auto taken_time = std::filesystem::last_write_time(dir.path() / "taken.h5");

  const auto r = run_engine(GetParam().args, dir.path());
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find(GetParam().message), std::string::npos) << "stderr: " << r.err;
  EXPECT_EQ(dir.listing(), before) << "files were created";
  EXPECT_EQ(testing::slurp(dir.path() / "taken.h5"), "precious");
  EXPECT_EQ(std::filesystem::last_write_time(dir.path() / "taken.h5"), taken_time);
}

INSTANTIATE_TEST_SUITE_P(
    Engine, BadInputTest,
    ::testing::Values(
        BadInput{"UnknownPreset", "--exp ntk_vs_fm", "unknown preset 'ntk_vs_fm'; presets in"},
        BadInput{"NothingToRun", "", "nothing to run: give --exp NAME, --config FILE or --resume FILE"},
        BadInput{"UnknownKey", "--exp ntk_vs_mf --set data.dd=5", "unknown key 'data.dd'; allowed here:"},
        BadInput{"NonPositiveSize", "--exp ntk_vs_mf --set model.k=0", "'model.k' = 0 must be a positive integer"},
        BadInput{"NegativeEpochs", "--exp ntk_vs_mf --epochs -1", "--epochs"},
        BadInput{"NonPositiveRunEpochs", "--exp ntk_vs_mf --set runs.mf.epochs=-3", "'runs.mf.epochs' = -3"},
        BadInput{"NonPositiveGamma", "--exp ntk_vs_mf --set runs.ntk.gamma_nb=-1", "'runs.ntk.gamma_nb' = -1.0 must be > 0"},
        BadInput{"NegativeTau", "--exp ntk_vs_mf --set data.tau=-0.5", "'data.tau' = -0.5 must be >= 0"},
        BadInput{"UnknownActivation", "--exp ntk_vs_mf --set runs.mf.activation=mish",
                 "'runs.mf.activation' = \"mish\" is not allowed; allowed: relu, sigmoid, tanh"},
        BadInput{"WrongType", "--exp ntk_vs_mf --set data.n=many", "'data.n' must be an integer"},
        BadInput{"UnknownCell", "--exp relu_vs_sigmoid --cells sig9", "unknown cell 'sig9'"},
        BadInput{"UnknownDevice", "--exp ntk_vs_mf --device tpu", "--device"},
        BadInput{"UnreadableConfig", "--config missing.toml", "--config 'missing.toml' cannot be read: it does not exist"},
        BadInput{"ConfigIsAFolder", "--config sub", "--config 'sub' is a folder, not a file"},
        BadInput{"MalformedConfig", "--config bad.toml", "bad.toml: line 2"},
        BadInput{"ExistingOutput", "--exp ntk_vs_mf --out taken.h5", "'taken.h5' exists; pass --force"},
        BadInput{"OutputFolderMissing", "--exp ntk_vs_mf --out nowhere/x.h5", "folder 'nowhere' does not exist"},
        BadInput{"OutputInsideAFile", "--exp ntk_vs_mf --out taken.h5/x.h5", "'taken.h5' is not a folder"},
        BadInput{"OutputIsAFolder", "--exp ntk_vs_mf --out sub --force", "--out 'sub' is a folder; give a file name"},
        BadInput{"ResumeMissingFile", "--resume gone.h5", "--resume: no such file 'gone.h5'"},
        BadInput{"ResumeNotHdf5", "--resume bad.toml", "'bad.toml' is not a readable HDF5 file"},
        BadInput{"ResumeWithOtherOptions", "--resume taken.h5 --epochs 3", "--epochs"},
        BadInput{"TooLargeForMemory", "--exp ntk_vs_mf --set model.k=100000000 --device cpu",
                 "of host memory and"}),
    case_name);

TEST(Engine, ListsPresetsAndVersion) {
  TempDir dir;
  auto r = run_engine("--list", dir.path());
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("ntk_vs_mf"), std::string::npos);
  EXPECT_NE(r.out.find("relu_vs_sigmoid"), std::string::npos);
  r = run_engine("--version", dir.path());
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.out.find("lowrank-engine"), std::string::npos);
}

// The summary's last line, "time: T s: name 0.00, …, other 0.00": parts that add up to the whole
// (to the printed rounding of each and of the total), none negative, the main ones among them.
void expect_time_line(const std::string& out) {
  const auto at = out.find("time: ");
  ASSERT_NE(at, std::string::npos) << out;
  std::istringstream line(out.substr(at + 6, out.find('\n', at) - at - 6));
  double total = 0, sum = 0;
  std::string unit, word, name;
  line >> total >> unit;
  ASSERT_EQ(unit, "s:");
  std::map<std::string, double> parts;
  while (line >> word) {
    double value = 0;
    if (std::istringstream(word) >> value) {  // "1.53," ends a part's name
      parts[name] = value;
      sum += value;
      name.clear();
    } else {
      name += (name.empty() ? "" : " ") + word;
    }
  }
  for (const char* part : {"epochs", "pair angles", "refits", "inputs", "other"})
    EXPECT_TRUE(parts.count(part)) << part << " missing from: " << out.substr(at);
  // No part is asserted positive: a 3-epoch run's epochs can round to 0.00 on a fast machine.
  for (const auto& [part, seconds] : parts) EXPECT_GE(seconds, 0.0) << part;
  EXPECT_NEAR(sum, total, 0.005 * static_cast<double>(parts.size() + 1) + 1e-9) << out.substr(at);
}

TEST(Engine, ShortRunWritesTheFileAndASummaryAndForceReplacesIt) {
  TempDir dir;
  const std::string args = "--exp ntk_vs_mf --set data.n=40 --set data.d=30 --set model.k=50 --epochs 3 --out r.h5";
  auto r = run_engine(args, dir.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(std::filesystem::exists(dir.path() / "r.h5"));
  for (const char* column : {"train_mse", "test_mse", "w_opnorm", "align_data", "align_residue", "energy",
                             "refit_test_mse", "epochs/s"})
    EXPECT_NE(r.out.find(column), std::string::npos) << column;
  EXPECT_NE(r.out.find("complete"), std::string::npos);
  expect_time_line(r.out);
  EXPECT_EQ(run_engine(args, dir.path()).exit_code, 2) << "an existing file needs --force";
  EXPECT_EQ(run_engine(args + " --force", dir.path()).exit_code, 0);
}

}  // namespace
}  // namespace lowrank
