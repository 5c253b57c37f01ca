// Philox4x32-10 (Salmon et al., SC'11) as cuRAND implements it, with cuRAND's conversions to
// float64 uniforms and normals: the same bits as cuRAND's host generator, without its cost (a
// few milliseconds to create each generator, and a function call per 32-bit multiply).
#pragma once

#include <cstdint>
#include <span>

namespace lowrank {

// What curandGenerateNormalDouble(g, out, n, 0, 1) writes for a host generator of type
// CURAND_RNG_PSEUDO_PHILOX4_32_10 with seed `seed` at offset 0, bit for bit, for any n (an odd n
// too: the values do not depend on how many are drawn). tests/test_philox.cpp checks this
// against cuRAND itself.
void philox_normal_double(std::uint64_t seed, std::span<double> out);

// What curandGenerateUniformDouble writes for the same generator: uniforms in (0, 1], 53 bits
// (the largest rounds to 1).
//
// Both match cuRAND's bits where the C library's log, sin and cos round as glibc's do: cuRAND's
// host generator calls them too.
void philox_uniform_double(std::uint64_t seed, std::span<double> out);

}  // namespace lowrank
