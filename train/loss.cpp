#include "loss.hpp"

#include <algorithm>
#include <string>
#include <vector>

#include <xtensor/xmath.hpp>

#include "../core/ops.hpp"

namespace minicnn {

// logits z (N,K), labels y (N). Per row, with m = max_k z_k for stability:
//   lse = m + log Σ_k exp(z_k − m),   loss_n = lse − z_y,   p_k = exp(z_k − lse)
//   L = Σ_n loss_n / N   ⇒   dL/dz_k = (p_k − [k = y]) / N
// With smoothing ε the target is q_k = (1 − ε)·[k = y] + ε/K, and
//   loss_n = −Σ_k q_k log p_k = lse − (1 − ε)·z_y − (ε/K)·Σ_k z_k   (as Σ_k q_k = 1)
//   ⇒   dL/dz_k = (p_k − q_k) / N
LossResult softmax_cross_entropy(const Tensor& logits, const Labels& labels,
                                 float label_smoothing) {
  constexpr const char* kWho = "softmax_cross_entropy";
  check_rank(logits, 2, kWho, "logits (N, K)");
  const std::size_t N = logits.shape()[0], K = logits.shape()[1];
  if (labels.size() != N) {
    throw Error(std::string(kWho) + ": got " + std::to_string(labels.size()) +
                " labels for logits of shape " + to_string(shape_of(logits)) +
                " (N = " + std::to_string(N) + ")");
  }
  check_arg(N > 0, kWho, "the batch size N", "> 0", to_string(shape_of(logits)));
  check_arg(K > 0, kWho, "the class count K", "> 0", to_string(shape_of(logits)));
  if (const auto bad = std::ranges::find_if(labels, [&](std::size_t y) { return y >= K; });
      bad != labels.end()) {
    throw Error(std::string(kWho) + ": label " + std::to_string(*bad) + " at index " +
                std::to_string(bad - labels.begin()) + " is outside [0, " + std::to_string(K) +
                ") for logits of shape " + to_string(shape_of(logits)));
  }
  const float eps = label_smoothing;
  check_arg(eps >= 0.0f && eps <= 1.0f, kWho, "label_smoothing", "in [0, 1]", format_float(eps));

  LossResult out;
  out.grad = Tensor::from_shape({N, K});
  std::vector<double> lse(N);
  softmax_rows(logits.data(), out.grad.data(), N, K, lse.data());
  const float* z = logits.data();
  float* g = out.grad.data();
  const float inv_n = 1.0f / static_cast<float>(N);
  double total = 0.0;
  if (eps == 0.0f) {
    for (std::size_t n = 0; n < N; ++n) {
      total += lse[n] - static_cast<double>(z[n * K + labels[n]]);
      float* gr = g + n * K;
      for (std::size_t k = 0; k < K; ++k) gr[k] *= inv_n;
      gr[labels[n]] -= inv_n;
    }
  } else {
    const double spread = double(eps) / double(K);  // ε/K, every class's share
    const float spread_n = static_cast<float>(spread) * inv_n;
    const float label_n = (1.0f - eps) * inv_n;
    for (std::size_t n = 0; n < N; ++n) {
      const float* zr = z + n * K;
      double row_sum = 0.0;
      for (std::size_t k = 0; k < K; ++k) row_sum += double(zr[k]);
      total += lse[n] - (1.0 - double(eps)) * double(zr[labels[n]]) - spread * row_sum;
      float* gr = g + n * K;
      for (std::size_t k = 0; k < K; ++k) gr[k] = gr[k] * inv_n - spread_n;
      gr[labels[n]] -= label_n;
    }
  }
  out.loss = static_cast<float>(total / static_cast<double>(N));
  return out;
}

// L = Σ (y − t)² / M over all M elements  ⇒  dL/dy = 2 (y − t) / M
LossResult mse(const Tensor& y, const Tensor& target) {
  const Shape ys = shape_of(y), ts = shape_of(target);
  if (ys != ts) {
    throw Error("mse: shape of y " + to_string(ys) + " differs from shape of target " +
                to_string(ts));
  }
  const std::size_t M = y.size();
  check_arg(M > 0, "mse", "the input", "non-empty", to_string(ys));

  const Tensor d = y - target;
  LossResult out;
  out.loss = static_cast<float>(xt::sum(xt::square(xt::cast<double>(d)))() / double(M));
  out.grad = (2.0f / static_cast<float>(M)) * d;
  return out;
}

}  // namespace minicnn
