#include "metrics.hpp"

namespace lowrank {

std::vector<double> span_basis(const std::vector<double>& u, const std::vector<double>& w, std::int64_t& columns) {
  const std::size_t d = u.size();
  auto norm = [](const std::vector<double>& v) {
    double s = 0;
    for (double x : v) s += x * x;
    return std::sqrt(s);
  };
  // Gram–Schmidt, twice.
  std::vector<std::vector<double>> basis;
  for (const std::vector<double>* v : {&u, &w}) {
    if (norm(*v) <= 1e-9) continue;
    std::vector<double> b = *v;
    for (int pass = 0; pass < 2; ++pass)
      for (const auto& e : basis) {
        double c = 0;
        for (std::size_t j = 0; j < d; ++j) c += b[j] * e[j];
        for (std::size_t j = 0; j < d; ++j) b[j] -= c * e[j];
      }
    const double nb = norm(b);
    if (nb <= 1e-9) continue;
    for (double& x : b) x /= nb;
    basis.push_back(std::move(b));
  }
  columns = static_cast<std::int64_t>(basis.size());
  std::vector<double> out(d * basis.size());
  for (std::size_t j = 0; j < d; ++j)
    for (std::size_t c = 0; c < basis.size(); ++c) out[j * basis.size() + c] = basis[c][j];
  return out;
}

}  // namespace lowrank
