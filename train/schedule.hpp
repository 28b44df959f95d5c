// Learning-rate schedules: each sets its optimiser's lr from a step count, as PyTorch's
// torch.optim.lr_scheduler does. A schedule steps once per epoch (StepLR, CosineLR) or,
// when made with StepEvery::Batch, once per batch (after opt.step()); fit reads every()
// and does which it says:
//
//   SGD opt(net.parameters(), {.lr = 0.1f, .momentum = 0.9f});
//   StepLR sched(opt, /*step_size=*/10, /*gamma=*/0.5f);
//   for (int epoch = 0; epoch < 30; ++epoch) { train_one_epoch(); sched.step(); }
//
//   OneCycleLR cycle(opt, {.max_lr = 0.1f, .total_steps = epochs * batches_per_epoch});
//   ... opt.step(); cycle.step();   // after every batch
//
// The base lr is the optimiser's lr when the schedule is made; steps() starts at 0 and
// step() increments it, then sets lr to the closed form at the new count. Schedules whose
// lr at step 0 is not the base lr (warm-up, one-cycle) set it when they are made.
#pragma once

#include <cstddef>

#include "optimizer.hpp"

namespace minicnn {

enum class StepEvery { Epoch, Batch };

class LRScheduler {
 public:
  explicit LRScheduler(Optimizer& opt, StepEvery every = StepEvery::Epoch);
  virtual ~LRScheduler() = default;

  // Advances one step and sets the optimiser's lr to lr_at(steps()).
  void step();
  // The lr this schedule gives after s calls to step().
  virtual float lr_at(std::size_t s) const = 0;

  std::size_t steps() const { return steps_; }
  std::size_t epoch() const { return steps_; }  // steps(), for a per-epoch schedule
  StepEvery every() const { return every_; }
  float base_lr() const { return base_lr_; }
  float lr() const { return opt_.lr(); }
  const Optimizer& optimizer() const { return opt_; }
  // Puts the schedule at step s and the optimiser's lr at lr_at(s): where a resumed run
  // picks up (train/checkpoint.hpp).
  void set_steps(std::size_t s);

 protected:
  Optimizer& opt_;
  float base_lr_;
  std::size_t steps_ = 0;
  StepEvery every_;
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

struct WarmupCosineOptions {
  std::size_t warmup = 0;  // steps of linear warm-up
  std::size_t total = 1;   // steps in all, warm-up included; > warmup
  float eta_min = 0.0f;
  StepEvery every = StepEvery::Batch;
};

// Linear warm-up to the base lr, then a cosine down to eta_min, at step s:
//   s < warmup:           lr = base_lr · (s + 1) / (warmup + 1)
//   warmup <= s <= total: lr = eta_min + (base_lr − eta_min) · (1 + cos(π·(s − warmup) /
//                              (total − warmup))) / 2
//   s > total:            lr = eta_min
// so the lr rises from base_lr / (warmup + 1) to base_lr at step warmup, and reaches
// eta_min at step total. With warmup 0 it is CosineLR held at eta_min after t_max.
// Sets the optimiser's lr to lr_at(0). total > warmup, eta_min finite, >= 0, <= base lr.
class WarmupCosineLR : public LRScheduler {
 public:
  WarmupCosineLR(Optimizer& opt, WarmupCosineOptions o);
  float lr_at(std::size_t s) const override;

 private:
  WarmupCosineOptions o_;
};

struct OneCycleOptions {
  float max_lr = 0.1f;
  std::size_t total_steps = 1;    // > 1
  float pct_start = 0.3f;         // the share of the steps spent rising, in (0, 1)
  float div_factor = 25.0f;       // initial lr = max_lr / div_factor
  float final_div_factor = 1e4f;  // final lr = initial lr / final_div_factor
  StepEvery every = StepEvery::Batch;
};

// PyTorch's OneCycleLR (two phases, cosine annealing, no momentum cycling): with
// up = pct_start · total_steps − 1 and last = total_steps − 1,
//   s <= up:   cosine from max_lr / div_factor (s = 0) up to max_lr (s = up)
//   s <= last: cosine from max_lr down to max_lr / (div_factor · final_div_factor)
//   s > last:  the final lr
// where a cosine from a to b over [s0, s1] is b + (a − b) · (1 + cos(π·(s − s0)/(s1 − s0))) / 2.
// The base lr is max_lr, whatever the optimiser had; the constructor sets lr_at(0).
// max_lr finite and > 0, total_steps > 1, pct_start in (0, 1), the factors finite, >= 1.
class OneCycleLR : public LRScheduler {
 public:
  OneCycleLR(Optimizer& opt, OneCycleOptions o);
  float lr_at(std::size_t s) const override;

 private:
  OneCycleOptions o_;
};

}  // namespace minicnn
