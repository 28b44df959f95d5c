#include "random.hpp"

#include <cmath>
#include <string>

namespace minicnn {

float Rng::uniform(float lo, float hi) {
  return std::uniform_real_distribution<float>(lo, hi)(engine_);
}

float Rng::normal(float mean, float stddev) {
  return std::normal_distribution<float>(mean, stddev)(engine_);
}

Rng& default_rng() {
  static Rng rng(42);
  return rng;
}

void manual_seed(std::uint64_t seed) { default_rng().seed(seed); }

void fill_uniform(Tensor& t, float lo, float hi, Rng& rng) {
  if (!(lo <= hi)) {
    std::string got = "lo = ";
    got += std::to_string(lo);
    got += ", hi = ";
    got += std::to_string(hi);
    check_arg(false, "fill_uniform", "the range", "lo <= hi", got);
  }
  std::uniform_real_distribution<float> dist(lo, hi);
  float* p = t.data();
  for (std::size_t i = 0, n = t.size(); i < n; ++i) p[i] = dist(rng.engine());
}

void fill_normal(Tensor& t, float mean, float stddev, Rng& rng) {
  check_arg(stddev >= 0.0f, "fill_normal", "stddev", ">= 0", std::to_string(stddev));
  std::normal_distribution<float> dist(mean, stddev);
  float* p = t.data();
  for (std::size_t i = 0, n = t.size(); i < n; ++i) p[i] = dist(rng.engine());
}

void he_normal(Tensor& w, std::size_t fan_in, Rng& rng) {
  check_arg(fan_in > 0, "he_normal", "fan_in", "> 0", std::to_string(fan_in));
  fill_normal(w, 0.0f, std::sqrt(2.0f / static_cast<float>(fan_in)), rng);
}

void glorot_uniform(Tensor& w, std::size_t fan_in, std::size_t fan_out, Rng& rng) {
  check_arg(fan_in + fan_out > 0, "glorot_uniform", "fan_in + fan_out", "> 0", "0");
  const float a = std::sqrt(6.0f / static_cast<float>(fan_in + fan_out));
  fill_uniform(w, -a, a, rng);
}

}  // namespace minicnn
