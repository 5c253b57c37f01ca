// Configuration: the presets resolve to the seed's cells, overrides apply, the resolved TOML
// reproduces the configuration, and each kind of bad value is refused naming its key.
#include <gtest/gtest.h>

#include <cmath>

#include "config.hpp"
#include "presets.hpp"

namespace lowrank {
namespace {

Config preset(const std::string& name, const std::vector<std::string>& sets = {}) {
  return parse_config(read_preset(name), "preset " + name, sets);
}

TEST(Presets, NtkVsMfIsTheSeedsSection) {
  const Config c = preset("ntk_vs_mf");
  EXPECT_EQ(c.d, 1000);
  EXPECT_EQ(c.k, 1250);
  EXPECT_EQ(c.n, 750);
  EXPECT_EQ(c.n_test, 750);
  EXPECT_EQ(c.nu, 0.0);
  EXPECT_EQ(c.a_init, AInit::normal);
  ASSERT_EQ(c.runs.size(), 2u);
  const double sqrt_k = std::sqrt(1250.0);
  const RunSpec &ntk = c.run("ntk"), &mf = c.run("mf");
  EXPECT_EQ(ntk.epochs, 50);
  EXPECT_DOUBLE_EQ(*ntk.lr_nb, sqrt_k / 2);
  EXPECT_DOUBLE_EQ(ntk.gamma, 1.0);
  EXPECT_DOUBLE_EQ(ntk.lr, sqrt_k / 2);
  EXPECT_DOUBLE_EQ(*mf.gamma_nb, 1 / sqrt_k);
  EXPECT_NEAR(mf.gamma, 1.0 / 1250, 1e-18);     // γ = gamma_nb²
  EXPECT_NEAR(mf.lr, sqrt_k / 2 * sqrt_k, 1e-9);  // η = lr_nb / gamma_nb
  ASSERT_EQ(c.pairs.size(), 1u);
  EXPECT_EQ(c.pairs[0].name(), "ntk__mf");
}

TEST(Presets, ReluVsSigmoidHasEveryCell) {
  const Config c = preset("relu_vs_sigmoid");
  EXPECT_EQ(c.runs.size(), 16u);
  EXPECT_EQ(c.pairs.size(), 8u);
  EXPECT_EQ(c.inputs.size(), 2u);
  EXPECT_EQ(c.a_init, AInit::seed_binary);
  EXPECT_DOUBLE_EQ(c.nu, 0.125);
  const double sqrt_k = std::sqrt(1250.0);
  struct Cell {
    const char* name;
    double lr_nb, gamma_nb;
    std::int64_t epochs;
    const char* inputs;
  };
  const Cell cells[] = {{"sig1", 2 * sqrt_k, 1 / sqrt_k, 100, "sigmoid_teacher"},
                        {"sig2", 2 * sqrt_k, 1, 100, "sigmoid_teacher"},
                        {"sig3", 2, 1 / sqrt_k, 100, "sigmoid_teacher"},
                        {"sig4", 2 * sqrt_k, 1.0 / 1250, 1000, "sigmoid_teacher"},
                        {"relu1", 2, 1 / sqrt_k, 1000, "relu_teacher"},
                        {"relu2", 2, 1, 1000, "relu_teacher"},
                        {"relu3", 2 * sqrt_k, 1 / sqrt_k, 1000, "relu_teacher"},
                        {"relu4", 2 * sqrt_k, 1, 1000, "relu_teacher"}};
  for (const auto& cell : cells)
    for (const char* act : {"relu", "sigmoid"}) {
      const RunSpec& r = c.run(std::string(cell.name) + "_" + act);
      EXPECT_NEAR(*r.lr_nb, cell.lr_nb, 1e-12) << r.name;
      EXPECT_NEAR(*r.gamma_nb, cell.gamma_nb, 1e-15) << r.name;
      EXPECT_EQ(r.epochs, cell.epochs) << r.name;
      EXPECT_EQ(r.inputs, cell.inputs) << r.name;
      EXPECT_EQ(to_string(r.activation), std::string(act)) << r.name;
    }
}

TEST(Presets, CellsNarrowTheRunsPairsAndInputs) {
  Config c = preset("relu_vs_sigmoid");
  select_cells(c, {"relu3"});
  ASSERT_EQ(c.runs.size(), 2u);
  EXPECT_EQ(c.pairs.size(), 1u);
  ASSERT_EQ(c.inputs.size(), 1u);
  EXPECT_EQ(c.inputs[0].name, "relu_teacher");
  EXPECT_EQ(c.inputs[0].index, 1) << "the group keeps its random streams";
  EXPECT_THROW(select_cells(c, {"nope"}), ConfigError);
  Config ntk = preset("ntk_vs_mf");
  EXPECT_THROW(select_cells(ntk, {"sig1"}), ConfigError);
}

TEST(Overrides, ApplyToTablesAndNamedRuns) {
  const Config c = preset("ntk_vs_mf", {"data.n=100", "runs.ntk.epochs=7", "runs.mf.activation=tanh", "seed=9",
                                        "runs.mf.lr_nb=3", "model.a_init=\"rademacher\""});
  EXPECT_EQ(c.n, 100);
  EXPECT_EQ(c.n_test, 100) << "n_test follows n unless set";
  EXPECT_EQ(c.run("ntk").epochs, 7);
  EXPECT_EQ(c.run("mf").epochs, 50);
  EXPECT_EQ(c.run("mf").activation, Activation::tanh);
  EXPECT_EQ(c.seed, 9u);
  EXPECT_DOUBLE_EQ(c.run("mf").lr, 3 * std::sqrt(1250.0));
  EXPECT_EQ(c.a_init, AInit::rademacher);
}

TEST(Overrides, KScaledValuesFollowK) {
  const Config c = preset("ntk_vs_mf", {"model.k=400"});
  EXPECT_DOUBLE_EQ(*c.run("ntk").lr_nb, 10.0);  // √400 / 2
  EXPECT_DOUBLE_EQ(*c.run("mf").gamma_nb, 0.05);
}

TEST(Overrides, SpectrumAndOutputOptions) {
  const Config full = preset("ntk_vs_mf", {});
  EXPECT_EQ(full.spectrum, SpectrumMethod::full);
  EXPECT_EQ(full.singular_count(), 1000) << "min(k, d) at the seed's sizes";
  EXPECT_EQ(full.heavy_every, 1);
  const Config c = preset("ntk_vs_mf", {"spectrum.method=truncated", "spectrum.rank=24", "output.heavy_every=5"});
  EXPECT_EQ(c.spectrum, SpectrumMethod::truncated);
  EXPECT_EQ(c.singular_count(), 24);
  EXPECT_EQ(c.heavy_every, 5);
  const Config again = parse_config(c.to_toml(), "resolved", {});
  EXPECT_EQ(again.spectrum, SpectrumMethod::truncated);
  EXPECT_EQ(again.spectrum_rank, 24);
  EXPECT_EQ(again.heavy_every, 5);
}

TEST(ResolvedToml, ReproducesTheConfiguration) {
  for (const char* name : {"ntk_vs_mf", "relu_vs_sigmoid", "spectrum_at_init", "later_training"}) {
    const Config c = preset(name, {"data.n=64"});
    const Config again = parse_config(c.to_toml(), "resolved", {});
    EXPECT_EQ(again.to_toml(), c.to_toml()) << name;
    ASSERT_EQ(again.runs.size(), c.runs.size());
    for (std::size_t i = 0; i < c.runs.size(); ++i) {
      EXPECT_EQ(again.runs[i].gamma, c.runs[i].gamma);
      EXPECT_EQ(again.runs[i].lr, c.runs[i].lr);
    }
  }
  // The loss and the new activations survive the round trip too.
  const Config c = preset("ntk_vs_mf", {"model.loss=bce", "runs.ntk.activation=swish", "runs.mf.activation=elu"});
  const Config again = parse_config(c.to_toml(), "resolved", {});
  EXPECT_EQ(again.loss, Loss::bce);
  EXPECT_EQ(again.run("ntk").activation, Activation::swish);
  EXPECT_EQ(again.run("mf").activation, Activation::elu);
  EXPECT_EQ(preset("ntk_vs_mf").loss, Loss::mse) << "the default";
}

TEST(ResolvedToml, RegularisersAndDecompositionSurviveAndDefaultPerRun) {
  const Config c = preset("ntk_vs_mf", {"model.weight_decay=0.25", "runs.mf.weight_decay=0", "runs.mf.gradient_penalty=3",
                                        "data.input_noise=0.5", "decomposition.every=4", "decomposition.n_mu=77",
                                        "decomposition.mu_source=train"});
  for (const Config& x : {c, parse_config(c.to_toml(), "resolved", {})}) {
    EXPECT_EQ(x.run("ntk").weight_decay, 0.25) << "model.weight_decay is the runs' default";
    EXPECT_EQ(x.run("mf").weight_decay, 0.0);
    EXPECT_EQ(x.run("mf").gradient_penalty, 3.0);
    EXPECT_EQ(x.run("ntk").gradient_penalty, 0.0);
    EXPECT_EQ(x.inputs.front().input_noise, 0.5) << "data.input_noise is the inputs groups' default";
    EXPECT_EQ(x.decomposition_every, 4);
    EXPECT_EQ(x.n_mu, 77);
    EXPECT_EQ(x.mu_source, MuSource::train);
    EXPECT_TRUE(x.decomposes(8));
    EXPECT_FALSE(x.decomposes(9));
  }
  EXPECT_FALSE(preset("ntk_vs_mf").decomposes(0)) << "off by default";
  EXPECT_FALSE(preset("ntk_vs_mf").any_run_has(&RunSpec::weight_decay));
}

// Each kind of bad value: the message names the key.
struct BadValue {
  const char* name;
  std::vector<std::string> sets;
  const char* message;
};

void PrintTo(const BadValue& b, std::ostream* os) { *os << b.name; }

std::string case_name(const ::testing::TestParamInfo<BadValue>& p) { return p.param.name; }

class BadValueTest : public ::testing::TestWithParam<BadValue> {};

TEST_P(BadValueTest, RefusedNamingTheKey) {
  try {
    preset("ntk_vs_mf", GetParam().sets);
    FAIL() << "accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find(GetParam().message), std::string::npos) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(
    Config, BadValueTest,
    ::testing::Values(BadValue{"UnknownKey", {"data.foo=1"}, "unknown key 'data.foo'"},
                      BadValue{"UnknownRunKey", {"runs.ntk.gamma_typo=1"}, "unknown key 'runs.ntk.gamma_typo'"},
                      BadValue{"ZeroSize", {"data.n=0"}, "'data.n' = 0 must be a positive integer"},
                      BadValue{"NegativeWidth", {"model.k=-5"}, "'model.k' = -5 must be a positive integer"},
                      BadValue{"FractionalSize", {"data.d=10.5"}, "'data.d' must be an integer"},
                      BadValue{"NegativeEpochs", {"runs.ntk.epochs=-1"}, "'runs.ntk.epochs' = -1 must be an integer from 0 to 1000000000"},
                      BadValue{"TooManyEpochs", {"epochs=1000000001"}, "'epochs' = 1000000001 must be an integer from 0"},
                      BadValue{"NegativeSeed", {"seed=-1"}, "'seed' = -1 must be an integer from 0 to 9223372036854775807"},
                      BadValue{"SeedBeyondInt64", {"seed=18446744073709551616"}, "'seed' must be an integer"},
                      BadValue{"RunNamedDot", {"runs.ntk.name=."}, "'runs[0].name' = \".\" must start with a letter"},
                      BadValue{"RunNameTooLong", {"runs.ntk.name=" + std::string(101, 'r')}, "(101 characters) must start"},
                      BadValue{"ExperimentWithSlash", {"experiment=\"a/b\""}, "'experiment' = \"a/b\" must start"},
                      BadValue{"PairTwice", {"pairs=[[\"ntk\",\"mf\"],[\"mf\",\"ntk\"]]"},
                               "'pairs[1]' repeats the pair of 'mf' and 'ntk'"},
                      BadValue{"SpikeOverflows", {"data.nu=1000"}, "'data.nu' = 1000.0 makes the spike strength n^nu overflow"},
                      BadValue{"NonPositiveGamma", {"runs.ntk.gamma_nb=0"}, "'runs.ntk.gamma_nb' = 0.0 must be > 0"},
                      BadValue{"NegativeTau", {"data.tau=-1"}, "'data.tau' = -1.0 must be >= 0"},
                      BadValue{"UnknownActivation", {"runs.ntk.activation=mish"},
                               "'runs.ntk.activation' = \"mish\" is not allowed; allowed: relu, sigmoid, tanh"},
                      BadValue{"UnknownTeacher", {"inputs.sigmoid_teacher.teacher=step"}, "allowed: relu, sigmoid, tanh"},
                      BadValue{"UnknownAInit", {"model.a_init=uniform"}, "allowed: normal, rademacher, seed_binary"},
                      BadValue{"BceWithAReluTeacher", {"model.loss=bce", "inputs.sigmoid_teacher.teacher=relu"},
                               "'model.loss' = \"bce\" takes labels in [0, 1], but inputs 'sigmoid_teacher' has the "
                               "teacher 'relu'"},
                      BadValue{"UnknownWInit", {"model.w_init=orthogonal"}, "allowed: unit_rows, gaussian"},
                      BadValue{"ZeroWScale", {"model.w_scale=0"}, "'model.w_scale' = 0.0 must be > 0"},
                      BadValue{"NegativeInputNoise", {"data.input_noise=-0.1"}, "'data.input_noise' = -0.10000000000000001 must be >= 0"},
                      BadValue{"SpikeNotBoolean", {"data.spike=no"}, "'data.spike' must be true or false"},
                      BadValue{"UnknownBetaInit", {"inputs.sigmoid_teacher.beta_init=sparse"}, "allowed: unit, gaussian"},
                      BadValue{"UnknownTeacherNamesTripleIndex", {"inputs.sigmoid_teacher.teacher=quadruple"},
                               "allowed: relu, sigmoid, tanh, softplus, elu, swish, gelu, triple_index"},
                      BadValue{"UnknownLoss", {"model.loss=l1"}, "'model.loss' = \"l1\" is not allowed; allowed: mse, half_mse, bce, hinge"},
                      BadValue{"UnknownNewActivation", {"runs.ntk.activation=mish"},
                               "allowed: relu, sigmoid, tanh, softplus, elu, swish, gelu"},
                      BadValue{"WrongType", {"data.alpha=\"big\""}, "'data.alpha' must be a number"},
                      BadValue{"UnknownRunInSet", {"runs.nope.epochs=3"}, "no entry named 'nope'"},
                      BadValue{"MalformedSet", {"data.n"}, "expected key=value"},
                      BadValue{"BothGammas", {"runs.ntk.gamma=2"}, "needs exactly one of 'gamma'"},
                      BadValue{"UnknownSpectrumMethod", {"spectrum.method=lanczos"}, "allowed: full, truncated"},
                      BadValue{"RankAboveWidth", {"spectrum.method=truncated", "spectrum.rank=1001"},
                               "'spectrum.rank' = 1001 must be at most min(model.k, data.d) = 1000"},
                      BadValue{"ZeroRank", {"spectrum.rank=0"}, "'spectrum.rank' = 0 must be a positive integer"},
                      BadValue{"ZeroHeavyEvery", {"output.heavy_every=0"},
                               "'output.heavy_every' = 0 must be an integer from 1 to 1000000000"},
                      BadValue{"UnknownOutputKey", {"output.compress=true"}, "unknown key 'output.compress'"},
                      BadValue{"NegativeWeightDecay", {"model.weight_decay=-0.5"},
                               "'model.weight_decay' = -0.5 must be >= 0 (0 is off)"},
                      BadValue{"InfinitePenalty", {"model.gradient_penalty=inf"}, "'model.gradient_penalty' must be finite"},
                      BadValue{"NegativeRunPenalty", {"runs.mf.gradient_penalty=-1"},
                               "'runs.mf.gradient_penalty' = -1.0 must be >= 0"},
                      BadValue{"WeightDecayNotANumber", {"runs.ntk.weight_decay=\"lots\""},
                               "'runs.ntk.weight_decay' must be a number"},
                      BadValue{"NegativeInputsNoise", {"inputs.sigmoid_teacher.input_noise=-2"},
                               "'inputs.sigmoid_teacher.input_noise' = -2.0 must be >= 0"},
                      BadValue{"NegativeDecompositionEvery", {"decomposition.every=-1"},
                               "'decomposition.every' = -1 must be an integer from 0 to 1000000000"},
                      BadValue{"ZeroNMu", {"decomposition.n_mu=0"}, "'decomposition.n_mu' = 0 must be a positive integer"},
                      BadValue{"UnknownMuSource", {"decomposition.mu_source=test"},
                               "'decomposition.mu_source' = \"test\" is not allowed; allowed: fresh, train"},
                      BadValue{"UnknownDecompositionKey", {"decomposition.rank=2"}, "unknown key 'decomposition.rank'"},
                      BadValue{"AlignmentsNotBoolean", {"output.alignments=maybe"}, "'output.alignments' must be true or false"},
                      BadValue{"UnknownDataSource", {"data.source=web"}, "'data.source' = \"web\" is not allowed; allowed: model, file"},
                      BadValue{"FileKeyWithoutFileSource", {"data.x=\"X.npy\""}, "'data.x' needs data.source = \"file\""},
                      BadValue{"ModelKeyWithOwnData", {"data.source=file"},
                               "'data.d' does not apply with data.source = \"file\""}),
    case_name);

// Weight decay with unit rows only rescales the step: W − η(∇ + λW) = (1 − ηλ)(W − η/(1 − ηλ) ∇),
// whose factor the renormalisation forgets. η = 2, λ = 0.1: the step of η = 2/0.8 = 2.5.
TEST(ConfigWarnings, WeightDecayWithUnitRowsIsAStepSize) {
  const char* text = R"(
[data]
d = 4
n = 5
[model]
k = 3
[[inputs]]
name = "main"
[[runs]]
name = "a"
inputs = "main"
lr = 2.0
gamma = 1.0
epochs = 1
[[runs]]
name = "b"
inputs = "main"
lr = 2.0
gamma = 1.0
epochs = 1
)";
  const std::vector<ConfigWarning> on = config_warnings(parse_config(text, "test", {"runs.a.weight_decay=0.1"}));
  ASSERT_EQ(on.size(), 1u);
  EXPECT_EQ(on[0].run, "a");
  EXPECT_NE(on[0].text.find("as lr = 2.5 in place of 2 would"), std::string::npos) << on[0].text;
  EXPECT_TRUE(config_warnings(parse_config(text, "test", {"runs.a.weight_decay=0.1", "runs.a.normalize_rows=false"}))
                  .empty());
  EXPECT_TRUE(config_warnings(parse_config(text, "test", {})).empty());
}

TEST(BadToml, SyntaxErrorNamesTheLine) {
  try {
    parse_config("experiment = \"x\"\n[data\nn = 3\n", "my.toml", {});
    FAIL() << "accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("my.toml: line 2"), std::string::npos) << e.what();
  }
}

TEST(BadToml, UnknownPresetListsTheKnownOnes) {
  try {
    read_preset("ntk_vs_fm");
    FAIL() << "accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("ntk_vs_mf, relu_vs_sigmoid"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace lowrank
