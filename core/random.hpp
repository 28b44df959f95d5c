// One seeded generator and the weight initialisers.
//
// Everything random in minicnn (initial weights, dropout masks, shuffling) draws from
// an Rng. default_rng() is the one the layers use unless given another; seed it with
// manual_seed() and the same seed and thread count give the same run, bit for bit.
// An Rng is not safe to draw from on two threads at once, default_rng() included:
// build models (whose layers draw their weights) on one thread, or one Rng per thread.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "tensor.hpp"

namespace minicnn {

// The seed of a generator made without one, default_rng()'s included.
inline constexpr std::uint64_t kDefaultSeed = 42;

class Rng {
 public:
  explicit Rng(std::uint64_t seed = kDefaultSeed) : engine_(seed) {}
  void seed(std::uint64_t s) { engine_.seed(s); }
  std::mt19937_64& engine() { return engine_; }
  float uniform(float lo = 0.0f, float hi = 1.0f);  // [lo, hi)
  float normal(float mean = 0.0f, float stddev = 1.0f);
  std::uint64_t next() { return engine_(); }
  // The engine's whole state as numbers (its standard text form), and back: a generator
  // given another's state draws what the other would have drawn. set_state throws Error
  // when the numbers are not such a state, and then leaves the generator as it was.
  std::vector<std::uint64_t> state() const;
  void set_state(const std::vector<std::uint64_t>& state);

 private:
  std::mt19937_64 engine_;
};

// A generator under a name: a training checkpoint keeps its state as
// "__training__.rng.<name>" (train/checkpoint.hpp).
struct NamedRng {
  std::string name;
  Rng* rng;
};

Rng& default_rng();
void manual_seed(std::uint64_t seed);

void fill_uniform(Tensor& t, float lo, float hi, Rng& rng = default_rng());
void fill_normal(Tensor& t, float mean, float stddev, Rng& rng = default_rng());

// He (Kaiming) normal for layers followed by ReLU: N(0, 2 / fan_in).
void he_normal(Tensor& w, std::size_t fan_in, Rng& rng = default_rng());
// Glorot (Xavier) uniform: U(-a, a) with a = sqrt(6 / (fan_in + fan_out)).
void glorot_uniform(Tensor& w, std::size_t fan_in, std::size_t fan_out,
                    Rng& rng = default_rng());

}  // namespace minicnn
