// Learning-rate schedules: each sets its optimiser's lr from the epoch count, as
// PyTorch's torch.optim.lr_scheduler does. Call step() once at the end of each epoch:
//
//   SGD opt(net.parameters(), {.lr = 0.1f, .momentum = 0.9f});
//   StepLR sched(opt, /*step_size=*/10, /*gamma=*/0.5f);
//   for (int epoch = 0; epoch < 30; ++epoch) { train_one_epoch(); sched.step(); }
//
// The base lr is the optimiser's lr when the schedule is made; epoch() starts at 0 and
// step() increments it, then sets lr to the closed form at the new epoch.
#pragma once

#include <cstddef>

#include "optimizer.hpp"

namespace minicnn {

class LRScheduler {
 public:
  explicit LRScheduler(Optimizer& opt);
  virtual ~LRScheduler() = default;

  // Advances one epoch and sets the optimiser's lr to lr_at(epoch()).
  void step();
  // The lr this schedule gives at epoch e (the optimiser's lr after e calls to step()).
  virtual float lr_at(std::size_t e) const = 0;

  std::size_t epoch() const { return epoch_; }
  float base_lr() const { return base_lr_; }
  float lr() const { return opt_.lr(); }

 protected:
  Optimizer& opt_;
  float base_lr_;
  std::size_t epoch_ = 0;
};

// lr = base_lr · gamma^⌊epoch / step_size⌋. step_size > 0, gamma finite and >= 0.
class StepLR : public LRScheduler {
 public:
  StepLR(Optimizer& opt, std::size_t step_size, float gamma = 0.1f);
  float lr_at(std::size_t e) const override;

 private:
  std::size_t step_size_;
  float gamma_;
};

// lr = eta_min + (base_lr − eta_min) · (1 + cos(π · epoch / t_max)) / 2
// PyTorch's CosineAnnealingLR: base_lr at epoch 0, eta_min at epoch t_max; past t_max
// the cosine goes on (back up to base_lr at 2·t_max), as PyTorch's does — stop
// stepping at t_max to stay at eta_min. t_max > 0, eta_min finite and >= 0.
class CosineLR : public LRScheduler {
 public:
  CosineLR(Optimizer& opt, std::size_t t_max, float eta_min = 0.0f);
  float lr_at(std::size_t e) const override;

 private:
  std::size_t t_max_;
  float eta_min_;
};

}  // namespace minicnn
