#include "schedule.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <string>

namespace minicnn {

LRScheduler::LRScheduler(Optimizer& opt) : opt_(opt), base_lr_(opt.lr()) {}

void LRScheduler::step() {
  ++epoch_;
  opt_.set_lr(lr_at(epoch_));
}

StepLR::StepLR(Optimizer& opt, std::size_t step_size, float gamma)
    : LRScheduler(opt), step_size_(step_size), gamma_(gamma) {
  check_arg(step_size > 0, "StepLR", "step_size", "> 0", std::to_string(step_size));
  check_non_negative(gamma, "StepLR", "gamma");
}

float StepLR::lr_at(std::size_t e) const {
  const double k = static_cast<double>(e / step_size_);
  return static_cast<float>(double(base_lr_) * std::pow(double(gamma_), k));
}

CosineLR::CosineLR(Optimizer& opt, std::size_t t_max, float eta_min)
    : LRScheduler(opt), t_max_(t_max), eta_min_(eta_min) {
  check_arg(t_max > 0, "CosineLR", "t_max", "> 0", std::to_string(t_max));
  check_non_negative(eta_min, "CosineLR", "eta_min");
}

float CosineLR::lr_at(std::size_t e) const {
  const double phase = std::numbers::pi * double(e) / double(t_max_);
  const double lr =
      double(eta_min_) + (double(base_lr_) - double(eta_min_)) * (1.0 + std::cos(phase)) / 2.0;
  // Rounding may leave a hair below zero when eta_min is 0.
  return static_cast<float>(std::max(lr, 0.0));
}

}  // namespace minicnn
