// Every backend operation of an epoch at the seed's sizes (d = 1000, k = 1250, n = 750), in
// float32, on the CPU backend or (--device=cuda) the CUDA backend.
// Run: build/bench/bench_backend_ops [--device=cuda] [--benchmark_filter=...]
// On the GPU each timed call ends with a small reduction that waits for the device, so the
// times include the work queued by the operation (and ~20 µs of that reduction).
#include <benchmark/benchmark.h>

#include <cstring>
#include <random>

#include "cpu_backend.hpp"
#include "cuda_backend.hpp"

namespace {

using lowrank::Activation;
using lowrank::Buffer;
constexpr std::int64_t kD = 1000, kK = 1250, kN = 750;

bool use_cuda = false;

template <typename T>
struct Fixture {
  std::unique_ptr<lowrank::Backend<T>> be = use_cuda ? lowrank::make_cuda_backend<T>() : lowrank::make_cpu_backend<T>();
  Buffer<T> X, y, W, W2, a, Z, r, G, v;
  std::shared_ptr<const lowrank::PreparedData> prepared;

  Fixture() {
    std::mt19937_64 rng(7);
    std::normal_distribution<double> normal;
    auto random = [&](std::int64_t rows, std::int64_t cols, double scale) {
      std::vector<T> h(static_cast<std::size_t>(rows * cols));
      for (auto& x : h) x = static_cast<T>(scale * normal(rng));
      return be->upload(h, rows, cols);
    };
    X = random(kN, kD, 1.0);
    y = random(kN, 1, 1.0);
    W = random(kK, kD, 1.0 / std::sqrt(double(kD)));
    W2 = random(kK, kD, 1.0 / std::sqrt(double(kD)));
    a = random(kK, 1, 1.0 / std::sqrt(double(kK)));
    Z = be->zeros(kN, kK);
    r = be->zeros(kN, 1);
    G = be->zeros(kK, kD);
    v = be->zeros(kD, 1);
    prepared = be->prepare(X);
    be->forward(X, W, a, y, 1.0, Activation::sigmoid, Z, r);
    be->gradient(X, r, a, 1.0, Activation::sigmoid, Z, G);
  }
};

Fixture<float>& fixture() {
  static Fixture<float> f;
  return f;
}

void flops(benchmark::State& state, double per_iteration) {
  state.counters["GFLOP/s"] =
      benchmark::Counter(per_iteration * 1e-9 * double(state.iterations()), benchmark::Counter::kIsRate);
}

void BM_forward(benchmark::State& state) {
  auto& f = fixture();
  for (auto _ : state) benchmark::DoNotOptimize(f.be->forward(f.X, f.W, f.a, f.y, 1.0, Activation::sigmoid, f.Z, f.r));
  flops(state, 2.0 * kN * kK * kD);
}
void BM_gradient(benchmark::State& state) {
  auto& f = fixture();
  Buffer<float> Z = f.be->zeros(kN, kK);
  for (auto _ : state) {
    f.be->copy(f.Z, Z);
    f.be->gradient(f.X, f.r, f.a, 1.0, Activation::sigmoid, Z, f.G);
    benchmark::DoNotOptimize(f.be->norm(f.r));  // waits for the device
  }
  flops(state, 2.0 * kN * kK * kD);
}
void BM_step(benchmark::State& state) {
  auto& f = fixture();
  Buffer<float> W = f.be->zeros(kK, kD);
  for (auto _ : state) {
    f.be->copy(f.W, W);
    f.be->step(W, f.G, 1e-3, true);
    benchmark::DoNotOptimize(f.be->norm(f.r));  // waits for the device
  }
}
void BM_spectrum(benchmark::State& state) {
  auto& f = fixture();
  for (auto _ : state) benchmark::DoNotOptimize(f.be->spectrum(f.Z, *f.prepared, 1.0 / kN, nullptr));
}
void BM_operator_norm(benchmark::State& state) {
  auto& f = fixture();
  for (auto _ : state) {
    Buffer<float> start = f.be->zeros(kD, 1);
    benchmark::DoNotOptimize(f.be->operator_norm(f.W, start));
  }
}
void BM_operator_norm_warm(benchmark::State& state) {
  auto& f = fixture();
  Buffer<float> start = f.be->zeros(kD, 1);
  f.be->operator_norm(f.W, start);
  for (auto _ : state) benchmark::DoNotOptimize(f.be->operator_norm(f.W, start));
}
void BM_principal_angles(benchmark::State& state) {
  auto& f = fixture();
  for (auto _ : state) benchmark::DoNotOptimize(f.be->mean_principal_angle_deg(f.W, f.W2));
}

BENCHMARK(BM_forward)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_gradient)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_step)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_spectrum)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_operator_norm)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_operator_norm_warm)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_principal_angles)->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i)
    if (std::strcmp(argv[i], "--device=cuda") == 0) use_cuda = true;
  benchmark::AddCustomContext("backend", use_cuda ? "cuda" : "cpu");
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
