#include "random.hpp"

#include <cmath>
#include <sstream>
#include <string>

namespace minicnn {

namespace {

std::string range_str(float lo, float hi) {
  return "lo = " + std::to_string(lo) + ", hi = " + std::to_string(hi);
}

// What the standard distributions require of their arguments (they do not check). The
// message is only built when a check fails: Rng::uniform is called per value, and
// formatting the range every time had cost more than drawing the number.
void check_range(float lo, float hi, const char* who) {
  if (std::isfinite(lo) && std::isfinite(hi) && lo <= hi) return;
  check_arg(false, who, "the range", "finite with lo <= hi", range_str(lo, hi));
}
void check_normal(float mean, float stddev, const char* who) {
  if (!std::isfinite(mean)) check_arg(false, who, "mean", "finite", std::to_string(mean));
  if (!(std::isfinite(stddev) && stddev >= 0.0f))
    check_arg(false, who, "stddev", "finite and >= 0", std::to_string(stddev));
}

}  // namespace

float Rng::uniform(float lo, float hi) {
  check_range(lo, hi, "Rng::uniform");
  return std::uniform_real_distribution<float>(lo, hi)(engine_);
}

float Rng::normal(float mean, float stddev) {
  check_normal(mean, stddev, "Rng::normal");
  if (stddev == 0.0f) return mean;  // std::normal_distribution needs stddev > 0
  return std::normal_distribution<float>(mean, stddev)(engine_);
}

std::vector<std::uint64_t> Rng::state() const {
  std::stringstream text;
  text << engine_;
  std::vector<std::uint64_t> out;
  for (std::uint64_t v; text >> v;) out.push_back(v);
  return out;
}

void Rng::set_state(const std::vector<std::uint64_t>& state) {
  std::stringstream text;
  for (std::uint64_t v : state) text << v << ' ';
  std::mt19937_64 engine;
  text >> engine;
  // A state is exactly as many numbers as the engine writes; fewer fail, more are left.
  std::string rest;
  if (text.fail() || (text >> rest)) {
    throw Error("Rng::set_state: " + std::to_string(state.size()) +
                " numbers are not a generator state (mt19937_64 takes " +
                std::to_string(this->state().size()) + ")");
  }
  engine_ = engine;
}

Rng& default_rng() {
  static Rng rng(kDefaultSeed);
  return rng;
}

void manual_seed(std::uint64_t seed) { default_rng().seed(seed); }

void fill_uniform(Tensor& t, float lo, float hi, Rng& rng) {
  check_range(lo, hi, "fill_uniform");
  std::uniform_real_distribution<float> dist(lo, hi);
  float* p = t.data();
  for (std::size_t i = 0, n = t.size(); i < n; ++i) p[i] = dist(rng.engine());
}

void fill_normal(Tensor& t, float mean, float stddev, Rng& rng) {
  check_normal(mean, stddev, "fill_normal");
  if (stddev == 0.0f) {  // std::normal_distribution needs stddev > 0
    t.fill(mean);
    return;
  }
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
