// Optimisers: they own nothing but their state; the parameters stay with the layers.
//
//   SGD opt(net.parameters(), {.lr = 0.01f, .momentum = 0.9f});
//   net.zero_grad(); net.backward(dy); opt.step();
#pragma once

#include <cstddef>
#include <vector>

#include "../tensor.hpp"

namespace minicnn {

class Optimizer {
 public:
  explicit Optimizer(std::vector<Parameter> params, float lr);
  virtual ~Optimizer() = default;
  // Updates every parameter from its gradient.
  virtual void step() = 0;
  // Sets every gradient to zero.
  void zero_grad();
  float lr() const { return lr_; }
  void set_lr(float lr);  // throws Error unless lr is finite and >= 0
  const std::vector<Parameter>& params() const { return params_; }

 protected:
  std::vector<Parameter> params_;
  float lr_;
};

struct SGDOptions {
  float lr = 0.01f;
  float momentum = 0.0f;
  bool nesterov = false;
  float weight_decay = 0.0f;
};

// v = momentum·v + (g + wd·θ);  θ −= lr·v   (nesterov: θ −= lr·(g + wd·θ + momentum·v))
class SGD : public Optimizer {
 public:
  SGD(std::vector<Parameter> params, SGDOptions opt = {});
  void step() override;

 private:
  SGDOptions opt_;
  std::vector<Tensor> velocity_;
};

struct AdamOptions {
  float lr = 1e-3f;
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.0f;
  bool decoupled = false;  // AdamW: decay θ directly instead of adding wd·θ to g
};

class Adam : public Optimizer {
 public:
  Adam(std::vector<Parameter> params, AdamOptions opt = {});
  void step() override;

 private:
  AdamOptions opt_;
  std::vector<Tensor> m_, v_;
  std::size_t t_ = 0;
};

}  // namespace minicnn
