#include "snapshot.hpp"

#include <lapacke.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

namespace lowrank {

void set_singular_vectors(Snapshot& s, std::int64_t k, std::int64_t d, std::int64_t rank,
                          const std::vector<double>& reference) {
  const std::int64_t m = std::min(k, d);
  const std::vector<double>& grad = s.tensors[static_cast<std::size_t>(RunTensor::G)];
  if (!std::all_of(grad.begin(), grad.end(), [](double x) { return std::isfinite(x); })) {  // no SVD of it: NaN vectors
    s.grad_left.assign(static_cast<std::size_t>(rank * k), std::numeric_limits<double>::quiet_NaN());
    s.grad_right.assign(static_cast<std::size_t>(rank * d), std::numeric_limits<double>::quiet_NaN());
    return;
  }
  std::vector<double> a = grad, sigma(static_cast<std::size_t>(m)), u(static_cast<std::size_t>(k * m)),
                      vt(static_cast<std::size_t>(m * d)), superb(static_cast<std::size_t>(std::max<std::int64_t>(m - 1, 1)));
  const lapack_int info =
      LAPACKE_dgesvd(LAPACK_ROW_MAJOR, 'S', 'S', static_cast<lapack_int>(k), static_cast<lapack_int>(d), a.data(),
                     static_cast<lapack_int>(d), sigma.data(), u.data(), static_cast<lapack_int>(m), vt.data(),
                     static_cast<lapack_int>(d), superb.data());
  if (info != 0) throw std::runtime_error("LAPACK: dgesvd failed on a snapshot's gradient, info = " + std::to_string(info));
  s.grad_left.assign(static_cast<std::size_t>(rank * k), 0.0);
  s.grad_right.assign(static_cast<std::size_t>(rank * d), 0.0);
  for (std::int64_t i = 0; i < rank; ++i) {
    const double* v = vt.data() + i * d;
    double along = 0;  // ⟨v_1, reference⟩, else v_i's largest entry
    if (i == 0 && !reference.empty())
      for (std::int64_t c = 0; c < d; ++c) along += v[c] * reference[static_cast<std::size_t>(c)];
    if (along == 0)
      along = *std::max_element(v, v + d, [](double x, double y) { return std::abs(x) < std::abs(y); });
    const double sign = along < 0 ? -1.0 : 1.0;
    for (std::int64_t c = 0; c < d; ++c) s.grad_right[static_cast<std::size_t>(i * d + c)] = sign * v[c];
    for (std::int64_t j = 0; j < k; ++j) s.grad_left[static_cast<std::size_t>(i * k + j)] = sign * u[static_cast<std::size_t>(j * m + i)];
  }
}

}  // namespace lowrank
