// Optimisers: they own nothing but their state; the parameters stay with the layers.
//
//   SGD opt(net.parameters(), {.lr = 0.01f, .momentum = 0.9f});
//   net.zero_grad(); net.backward(dy); opt.step();
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <vector>

#include "../core/tensor.hpp"

namespace minicnn {

// Every parameter must have a gradient of its value's shape, and appear only once;
// otherwise the constructor throws Error naming the optimiser and the parameter.
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

  // What a resumed run needs besides lr (train/checkpoint.hpp saves and restores it):
  // the optimiser's kind ("SGD", "Adam", "AdamW"), the steps taken, and its state
  // tensors under PyTorch's names followed by the parameter's, "momentum_buffer.0.weight",
  // "exp_avg.0.weight", "exp_avg_sq.0.weight"; the pointers stay valid while it lives.
  struct StateTensor {
    std::string name;
    Tensor* value;
  };
  const std::string& kind() const { return who_; }
  std::size_t steps() const { return steps_; }
  void set_steps(std::size_t steps) { steps_ = steps; }
  virtual std::vector<StateTensor> state() { return {}; }

 protected:
  // `who` names the optimiser in error messages ("SGD", "Adam", "AdamW").
  Optimizer(std::vector<Parameter> params, float lr, std::string who);
  // Throws Error unless parameter i still has the size the optimiser's state was made for.
  void check_size(std::size_t i, std::size_t size) const;
  // f(i, j0, j1) for elements [j0, j1) of parameter i, over every element of every
  // parameter in one parallel loop: pieces of at most kRun elements shared out among the
  // threads, instead of a loop per parameter (on LeNet the step with a loop per
  // parameter was slower on two threads than on one).
  void sweep(const std::function<void(std::size_t, std::size_t, std::size_t)>& f);

  std::vector<Parameter> params_;
  float lr_;
  std::string who_;
  std::size_t steps_ = 0;  // calls to step(); Adam's bias correction counts them

 private:
  struct Piece {
    std::size_t i, j0, j1;
  };
  std::vector<Piece> pieces_;  // sweep's, kept from step to step
};

struct SGDOptions {
  float lr = 0.01f;
  float momentum = 0.0f;
  bool nesterov = false;
  float weight_decay = 0.0f;
};

// PyTorch's torch.optim.SGD (dampening 0), with g the gradient:
//   g' = g + wd·θ;  v = momentum·v + g';  θ −= lr·v   (nesterov: θ −= lr·(g' + momentum·v))
// v starts at zero, so the first step is θ −= lr·g'. Options: lr finite and >= 0,
// momentum in [0, 1), weight_decay finite and >= 0, nesterov only with momentum > 0.
class SGD : public Optimizer {
 public:
  SGD(std::vector<Parameter> params, SGDOptions opt = {});
  void step() override;
  std::vector<StateTensor> state() override;  // momentum_buffer.<name>; none without momentum

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

// PyTorch's torch.optim.Adam / AdamW (amsgrad off). At step t = 1, 2, ...:
//   g' = g + wd·θ                (decoupled: g' = g, and first θ −= lr·wd·θ)
//   m = β1·m + (1 − β1)·g';   v = β2·v + (1 − β2)·g'²
//   θ −= lr · (m / (1 − β1ᵗ)) / (sqrt(v / (1 − β2ᵗ)) + eps)
// Options: lr finite and >= 0, β1 and β2 in [0, 1), eps finite and > 0, weight_decay
// finite and >= 0.
class Adam : public Optimizer {
 public:
  Adam(std::vector<Parameter> params, AdamOptions opt = {});
  void step() override;
  std::vector<StateTensor> state() override;  // exp_avg.<name>, then exp_avg_sq.<name>

 private:
  AdamOptions opt_;
  std::vector<Tensor> m_, v_;
};

}  // namespace minicnn
