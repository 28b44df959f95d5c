// A constant matrix applied to rows of floats, for the Winograd transforms: the matrix
// is known at compile time, so a zero entry costs nothing and the loops over the lanes
// vectorise. Internal to layers/conv (winograd.cpp, winograd5.cpp).
#pragma once

#include <cstddef>
#include <tuple>
#include <type_traits>
#include <utility>

namespace minicnn::transform {

// T[r][i]·v: a zero entry adds −0 (which vanishes: x + −0 = x exactly), so each
// transform costs only its non-zero entries.
template <const auto& T, int r, int i>
[[gnu::always_inline]] inline float term(float v) {
  constexpr float c = T[r][i];
  if constexpr (c == 0.0f) {
    return -0.0f;
  } else {
    return c * v;
  }
}

// Σ_i T[r][i] · in[i·is], summed left to right.
template <const auto& T, int r, int... i>
[[gnu::always_inline]] inline float row_dot(const float* in, std::size_t is,
                                            std::integer_sequence<int, i...>) {
  return (-0.0f + ... + term<T, r, i>(in[static_cast<std::size_t>(i) * is]));
}

// out[r·os + w] = Σ_i T[r][i] · in[i·is + w] for every row r of T and w < W.
template <const auto& T, int W, int r = 0>
[[gnu::always_inline]] inline void apply(const float* in, std::size_t is, float* out,
                                         std::size_t os) {
  using Mat = std::remove_cvref_t<decltype(T)>;
  constexpr int rows = static_cast<int>(std::tuple_size_v<Mat>);
  constexpr int cols = static_cast<int>(std::tuple_size_v<typename Mat::value_type>);
  if constexpr (r < rows) {
    for (int w = 0; w < W; ++w)
      out[static_cast<std::size_t>(r) * os + static_cast<std::size_t>(w)] =
          row_dot<T, r>(in + w, is, std::make_integer_sequence<int, cols>{});
    apply<T, W, r + 1>(in, is, out, os);
  }
}

}  // namespace minicnn::transform
