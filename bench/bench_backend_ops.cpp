// Every backend operation of an epoch, in float32, at the seed's sizes (n = 750, k = 1250,
// d = 1000) and at k = d = n = N for N from 256 to 2048 on the CPU (to 16384 with
// --device=cuda), with the ceilings they are measured against on the same machine in the same
// run: a large GEMM (GFLOP/s) and a large copy (GB/s).
// Run: build/bench/bench_backend_ops [--device=cuda] [--benchmark_filter=...]
//      [--benchmark_format=json --benchmark_out=FILE]
// On the GPU each timed call ends with a small reduction that waits for the device, so the
// times include the work queued by the operation (and ~20 µs of that reduction).
#include <benchmark/benchmark.h>

#include <cblas.h>

#include <cmath>
#include <cstring>

#include "config.hpp"
#include "cpu_backend.hpp"
#include "cuda_backend.hpp"
#include "epoch.hpp"
#include "inputs.hpp"
#include "presets.hpp"
#include "truncated_spectrum.hpp"

namespace {

using lowrank::Activation;
using lowrank::Buffer;
using lowrank::Loss;
using Index = std::int64_t;

bool use_cuda = false;

// Shapes: 0 stands for the seed's (n, k, d) = (750, 1250, 1000); N > 0 for k = d = n = N.
struct Shape {
  Index n, k, d;
};
double nkd(const Shape& s) { return double(s.n) * double(s.k) * double(s.d); }
Shape shape_of(Index N) { return N == 0 ? Shape{750, 1250, 1000} : Shape{N, N, N}; }

std::unique_ptr<lowrank::Backend<float>> make_backend() {
  return use_cuda ? lowrank::make_cuda_backend<float>() : lowrank::make_cpu_backend<float>();
}

// Uniform entries of variance scale² from a counter hash (SplitMix64): the seed's power
// iteration's random starts.
std::vector<float> random_entries(Index count, double scale, std::uint64_t stream) {
  std::vector<float> h(static_cast<std::size_t>(count));
  const double half_width = scale * std::sqrt(3.0);
  for (Index i = 0; i < count; ++i) {
    std::uint64_t z = (stream << 40) + static_cast<std::uint64_t>(i) + 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    h[static_cast<std::size_t>(i)] = static_cast<float>(half_width * (double(z >> 11) * 0x1.0p-53 * 2 - 1));
  }
  return h;
}

// The ntk_vs_mf preset at this shape (the ntk run alone, no pair), with `extra` settings.
lowrank::Config config_of(const Shape& s, std::vector<std::string> extra = {}) {
  extra.insert(extra.end(), {"data.n=" + std::to_string(s.n), "data.d=" + std::to_string(s.d),
                             "model.k=" + std::to_string(s.k)});
  return lowrank::parse_config(lowrank::read_preset("ntk_vs_mf"), "preset ntk_vs_mf", extra);
}

// One backend and the buffers of one epoch at one shape, on the engine's own inputs: the
// ntk_vs_mf preset at these sizes (spiked data, its W0 and a), so that the spectra and the
// convergence of the iterative methods are those of training. W2 is W0 after one large step.
struct Fixture {
  Index N;
  Shape s;
  std::unique_ptr<lowrank::Backend<float>> be = make_backend();
  Buffer<float> X, y, W, W2, a, Z, r, G, one;
  std::shared_ptr<const lowrank::PreparedData> prepared;  // made on first use (the full spectrum's)

  explicit Fixture(Index size) : N(size), s(shape_of(size)) {
    const lowrank::Config config = config_of(s);
    const lowrank::Inputs in = lowrank::make_inputs(config, config.inputs.front());
    X = lowrank::upload_double(*be, in.X_train, s.n, s.d);
    y = lowrank::upload_double(*be, in.y_train, s.n, 1);
    W = lowrank::upload_double(*be, in.W0, s.k, s.d);
    W2 = lowrank::upload_double(*be, in.W0, s.k, s.d);
    a = lowrank::upload_double(*be, in.a, s.k, 1);
    Z = be->zeros(s.n, s.k);
    r = be->zeros(s.n, 1);
    G = be->zeros(s.k, s.d);
    one = be->zeros(1, 1);
    be->forward(X, W, a, y, 1.0, Activation::sigmoid, Loss::mse, Z, r);
    be->gradient(X, r, a, 1.0, Activation::sigmoid, Z, G, nullptr);  // Z now holds M
    be->step(W2, G, config.runs.front().lr, true);
  }
  const lowrank::PreparedData& factor() {
    if (!prepared) prepared = be->prepare(X);
    return *prepared;
  }
  void wait() { benchmark::DoNotOptimize(be->norm(one)); }  // a reduction: waits for the device
};

// The fixture of size N; one size's buffers at a time (GiBs on the GPU at the largest), and the
// benchmarks are registered size by size so that each is built once.
Fixture& fixture(Index N) {
  static std::unique_ptr<Fixture> current;
  if (!current || current->N != N) {
    current.reset();
    current = std::make_unique<Fixture>(N);
  }
  return *current;
}

void rate(benchmark::State& state, const char* name, double per_iteration) {
  state.counters[name] = benchmark::Counter(per_iteration * double(state.iterations()), benchmark::Counter::kIsRate);
}
// GEMM work of an op, in GFLOP, and bytes it must move at least, in GB.
void gflops(benchmark::State& state, double flop) { rate(state, "GFLOP/s", flop * 1e-9); }
void gbytes(benchmark::State& state, double bytes) { rate(state, "GB/s", bytes * 1e-9); }
void label(benchmark::State& state, const Shape& s) {
  state.SetLabel("n=" + std::to_string(s.n) + " k=" + std::to_string(s.k) + " d=" + std::to_string(s.d));
}

// Ceilings: a square SGEMM and a device-to-device (or memory-to-memory) copy of 256 MiB.
void BM_ceiling_gemm(benchmark::State& state) {
  const Index N = state.range(0);
  auto be = make_backend();
  Buffer<float> A = be->zeros(N, N), B = be->zeros(N, N), C = be->zeros(N, N), one = be->zeros(1, 1);
  for (auto _ : state) {
    be->gemm(A, B, C);
    benchmark::DoNotOptimize(be->norm(one));  // waits for the device
  }
  gflops(state, 2.0 * double(N) * double(N) * double(N));
}
void BM_ceiling_copy(benchmark::State& state) {
  const Index count = Index(64) << 20;  // floats: 256 MiB
  auto be = make_backend();
  Buffer<float> A = be->zeros(count, 1), B = be->zeros(count, 1), one = be->zeros(1, 1);
  for (auto _ : state) {
    be->copy(A, B);
    benchmark::DoNotOptimize(be->norm(one));  // waits for the device
  }
  gbytes(state, 2.0 * 4 * double(count));  // read and write
}

// The forward pass with every activation and loss (range(1), range(2): their places in the name
// tables), at one shape: what the activation's and the loss's arithmetic add to the GEMM.
void BM_forward_activation_loss(benchmark::State& state) {
  Fixture& f = fixture(state.range(0));
  const Activation act = lowrank::kActivationNames[state.range(1)].second;
  const Loss loss = lowrank::kLossNames[state.range(2)].second;
  Buffer<float> Z = f.be->zeros(f.s.n, f.s.k), r = f.be->zeros(f.s.n, 1);
  for (auto _ : state) benchmark::DoNotOptimize(f.be->forward(f.X, f.W, f.a, f.y, 1.0, act, loss, Z, r).loss);
  gflops(state, 2 * nkd(f.s));
  label(state, f.s);
}

// The gradient penalty's factor Q and value (tanh: σ'' ≠ 0), then the gradient with Q added.
void BM_gradient_penalty(benchmark::State& state) {
  Fixture& f = fixture(state.range(0));
  Buffer<float> Z = f.be->zeros(f.s.n, f.s.k), Q = f.be->zeros(f.s.n, f.s.k), norms = f.be->zeros(f.s.n, 1);
  for (auto _ : state) {
    f.be->forward(f.X, f.W, f.a, f.y, 1.0, Activation::tanh, Loss::mse, Z, f.r);
    benchmark::DoNotOptimize(f.be->gradient_penalty(Z, norms, f.a, 1.0, 0.5, Activation::tanh, Q));
    f.be->gradient(f.X, f.r, f.a, 1.0, Activation::tanh, Z, f.G, &Q);
    f.wait();
  }
  gflops(state, 2 * 2 * nkd(f.s));
  label(state, f.s);
}

void BM_forward(benchmark::State& state) {
  auto& f = fixture(state.range(0));
  // Buffers of its own: the fixture's Z holds training's M, which the spectra benchmarks use.
  Buffer<float> Z = f.be->zeros(f.s.n, f.s.k), r = f.be->zeros(f.s.n, 1);
  for (auto _ : state)
    benchmark::DoNotOptimize(f.be->forward(f.X, f.W, f.a, f.y, 1.0, Activation::sigmoid, Loss::mse, Z, r).loss);
  gflops(state, 2 * nkd(f.s));
  label(state, f.s);
}
void BM_gradient(benchmark::State& state) {
  auto& f = fixture(state.range(0));
  Buffer<float> Z = f.be->zeros(f.s.n, f.s.k), forward_Z = f.be->zeros(f.s.n, f.s.k);
  f.be->forward(f.X, f.W, f.a, f.y, 1.0, Activation::sigmoid, Loss::mse, forward_Z, f.r);
  for (auto _ : state) {
    f.be->copy(forward_Z, Z);  // the gradient masks Z in place
    f.be->gradient(f.X, f.r, f.a, 1.0, Activation::sigmoid, Z, f.G, nullptr);
    f.wait();
  }
  gflops(state, 2 * nkd(f.s));
  label(state, f.s);
}
void BM_step(benchmark::State& state) {
  auto& f = fixture(state.range(0));
  Buffer<float> W = f.be->zeros(f.s.k, f.s.d);
  for (auto _ : state) {
    f.be->copy(f.W, W);
    f.be->step(W, f.G, 1e-3, true);
    f.wait();
  }
  gbytes(state, 4.0 * 5 * double(f.s.k) * double(f.s.d));  // copy (2) and step (read W, G; write W)
  label(state, f.s);
}
void BM_spectrum_full(benchmark::State& state) {
  auto& f = fixture(state.range(0));
  const auto& X = f.factor();
  for (auto _ : state) benchmark::DoNotOptimize(f.be->spectrum(f.Z, X, 1.0 / double(f.s.n), nullptr));
  label(state, f.s);
}
// Truncated, top 16: warm (each call on a gradient 1% from the last, with the last top vector
// for the sign, as in training) or cold (a fresh block each call).
void BM_spectrum_truncated(benchmark::State& state) {
  auto& f = fixture(state.range(0));
  const bool warm = state.range(1) != 0;
  auto make = [&] { return std::make_unique<lowrank::TruncatedSpectrum<float>>(*f.be, f.s.k, f.s.d, 16, 42); };
  auto truncated = make();
  Buffer<float> G2 = f.be->zeros(f.s.k, f.s.d);
  f.be->copy(f.G, G2);
  f.be->axpy(0.01 * f.be->norm(f.G) / f.be->norm(f.W), f.W, G2);  // G + 1% of ‖G‖ along W
  Buffer<float> previous = f.be->zeros(f.s.d, 1);  // the last top vector, for the sign (as in training)
  f.be->copy(truncated->compute(G2, nullptr).top_right_vector, previous);
  double iterations = 0;
  bool other = false;
  for (auto _ : state) {
    if (!warm) {
      state.PauseTiming();
      truncated = make();
      state.ResumeTiming();
    }
    other = !other;
    const auto spectrum = truncated->compute(other ? f.G : G2, warm ? &previous : nullptr);
    if (warm) f.be->copy(spectrum.top_right_vector, previous);
    iterations += truncated->iterations();
  }
  state.counters["subspace_iterations"] = iterations / double(state.iterations());
  label(state, f.s);
}
// Warm: each call on the other of W and W2 (W after a large step), from the vector the call
// before converged to, as training starts each epoch from the last; cold: from a fixed start.
void BM_operator_norm(benchmark::State& state) {
  auto& f = fixture(state.range(0));
  const bool warm = state.range(1) != 0;
  Buffer<float> start = f.be->zeros(f.s.d, 1);
  if (warm) f.be->operator_norm(f.W2, start);
  bool other = false;
  for (auto _ : state) {
    if (!warm) {
      state.PauseTiming();
      start = f.be->zeros(f.s.d, 1);
      state.ResumeTiming();
    }
    other = !other;
    benchmark::DoNotOptimize(f.be->operator_norm(other ? f.W : f.W2, start));
  }
  label(state, f.s);
}
// The seed's method on the CPU: 200 power iterations from a random start (uniform here), with the relative error
// it reaches against the engine's Lanczos value (relative error ≤ 1e-10).
void BM_operator_norm_power200(benchmark::State& state) {
  auto& f = fixture(state.range(0));
  const Index k = f.s.k, d = f.s.d;
  std::vector<float> W(static_cast<std::size_t>(k * d));
  f.be->download(f.W, W);
  Buffer<float> start = f.be->zeros(d, 1);
  const double reference = f.be->operator_norm(f.W, start);
  double sigma = 0;
  std::uint64_t start_stream = 100;
  for (auto _ : state) {
    std::vector<float> v = random_entries(d, 1.0, ++start_stream), u(static_cast<std::size_t>(k));
    cblas_sscal(int(d), 1.0f / cblas_snrm2(int(d), v.data(), 1), v.data(), 1);
    for (int i = 0; i < 200; ++i) {
      cblas_sgemv(CblasRowMajor, CblasNoTrans, int(k), int(d), 1.0f, W.data(), int(d), v.data(), 1, 0.0f, u.data(), 1);
      cblas_sgemv(CblasRowMajor, CblasTrans, int(k), int(d), 1.0f, W.data(), int(d), u.data(), 1, 0.0f, v.data(), 1);
      cblas_sscal(int(d), 1.0f / cblas_snrm2(int(d), v.data(), 1), v.data(), 1);
    }
    sigma = cblas_snrm2(int(k), u.data(), 1);
  }
  state.counters["rel_error"] = std::abs(sigma - reference) / reference;
  label(state, f.s);
}
void BM_principal_angles(benchmark::State& state) {
  auto& f = fixture(state.range(0));
  for (auto _ : state) benchmark::DoNotOptimize(f.be->mean_principal_angle_deg(f.W, f.W2));
  label(state, f.s);
}
// One run's epoch: the driver's own run_epoch (every metric of SPEC §4 and the heavy series) on
// the ntk run of the preset at this shape, training on from epoch to epoch; range(1): truncated;
// range(2): the decomposition every epoch, off (0), μ exact (1) or from 10000 fresh samples (2).
void BM_epoch(benchmark::State& state) {
  const Shape s = shape_of(state.range(0));
  const bool truncated = state.range(1) != 0;
  std::vector<std::string> sets = {std::string("spectrum.method=") + (truncated ? "truncated" : "full")};
  if (state.range(2) > 0)
    sets.insert(sets.end(), {"decomposition.every=1", state.range(2) == 1 ? "decomposition.mu_source=exact"
                                                                          : "decomposition.mu_source=fresh"});
  const lowrank::Config config = config_of(s, sets);
  const lowrank::Inputs in = lowrank::make_inputs(config, config.inputs.front());
  auto be = make_backend();
  lowrank::DeviceInputs<float> data = lowrank::load_inputs(*be, in, config);
  lowrank::RunState<float> run = lowrank::start_run(*be, config, config.runs.front(), data, in);
  for (auto _ : state) {
    lowrank::EpochRecord record;
    if (!lowrank::run_epoch(*be, run, {}, record)) {
      state.SkipWithError("the run diverged");
      break;
    }
    ++run.epoch;
  }
  gflops(state, 3 * 2 * nkd(s));  // the three GEMMs: forward, gradient, test loss
  label(state, s);
}

// Every benchmark, size by size: the seed's shape, then N = 256 … 2048 on the CPU, 256 … 16384
// on the GPU; the cubic ones (the full spectrum, the angles) stop earlier.
void register_all() {
  using benchmark::kMillisecond;
  benchmark::RegisterBenchmark("ceiling_gemm", BM_ceiling_gemm)->Arg(use_cuda ? 8192 : 2048)->Unit(kMillisecond)->UseRealTime();
  benchmark::RegisterBenchmark("ceiling_copy", BM_ceiling_copy)->Unit(kMillisecond)->UseRealTime();
  const Index largest = use_cuda ? 16384 : 2048, largest_cubic = use_cuda ? 8192 : 2048;
  const Index largest_angles = use_cuda ? 4096 : 1024;
  std::vector<Index> sizes{0};
  for (Index N = 256; N <= largest; N *= 2) sizes.push_back(N);
  for (Index N : sizes) {
    const bool cubic = N <= largest_cubic;
    auto add = [&](const char* name, void (*fn)(benchmark::State&), std::vector<Index> args) {
      benchmark::RegisterBenchmark(name, fn)->Args(args)->Unit(kMillisecond)->UseRealTime();
    };
    add("forward", BM_forward, {N});
    add("gradient", BM_gradient, {N});
    add("step", BM_step, {N});
    if (cubic) add("spectrum_full", BM_spectrum_full, {N});
    add("spectrum_truncated16/warm", BM_spectrum_truncated, {N, 1});
    add("spectrum_truncated16/cold", BM_spectrum_truncated, {N, 0});
    add("operator_norm/warm", BM_operator_norm, {N, 1});
    add("operator_norm/cold", BM_operator_norm, {N, 0});
    if (!use_cuda) add("operator_norm_power200", BM_operator_norm_power200, {N});
    if (N <= largest_angles) add("principal_angles", BM_principal_angles, {N});
    add("gradient_penalty", BM_gradient_penalty, {N});
    if (cubic) add("epoch/full", BM_epoch, {N, 0, 0});
    add("epoch/truncated", BM_epoch, {N, 1, 0});
    if (cubic) add("epoch/full/decomposition_exact_mu", BM_epoch, {N, 0, 1});
    if (cubic && N == 0) add("epoch/full/decomposition_fresh_mu", BM_epoch, {N, 0, 2});
    if (N == 0)  // every activation and loss, at the seed's shape
      for (Index act = 0; act < Index(std::size(lowrank::kActivationNames)); ++act)
        for (Index loss = 0; loss < Index(std::size(lowrank::kLossNames)); ++loss)
          add((std::string("forward/") + lowrank::kActivationNames[act].first + "/" + lowrank::kLossNames[loss].first).c_str(),
              BM_forward_activation_loss, {N, act, loss});
  }
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], "--device=cuda") == 0) use_cuda = true;
  benchmark::AddCustomContext("backend", use_cuda ? "cuda" : "cpu");
  benchmark::Initialize(&argc, argv);
  register_all();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
