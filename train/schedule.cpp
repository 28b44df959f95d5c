#include "schedule.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <string>

namespace minicnn {

LRScheduler::LRScheduler(Optimizer& opt, StepEvery every)
    : opt_(opt), base_lr_(opt.lr()), every_(every) {}

void LRScheduler::step() {
  ++steps_;
  opt_.set_lr(lr_at(steps_));
}

void LRScheduler::set_steps(std::size_t s) {
  steps_ = s;
  opt_.set_lr(lr_at(steps_));
}

namespace {

// b + (a − b)·(1 + cos(π·t)) / 2: a at t = 0, b at t = 1.
double cosine_from_to(double a, double b, double t) {
  return b + (a - b) * (1.0 + std::cos(std::numbers::pi * t)) / 2.0;
}

}  // namespace

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

WarmupCosineLR::WarmupCosineLR(Optimizer& opt, WarmupCosineOptions o)
    : LRScheduler(opt, o.every), o_(o) {
  constexpr const char* kWho = "WarmupCosineLR";
  check_arg(o.total > o.warmup, kWho, "total", "> warmup (" + std::to_string(o.warmup) + ")",
            std::to_string(o.total));
  check_non_negative(o.eta_min, kWho, "eta_min");
  check_arg(o.eta_min <= base_lr_, kWho, "eta_min",
            "<= the optimiser's lr " + format_float(base_lr_), format_float(o.eta_min));
  opt_.set_lr(lr_at(0));
}

float WarmupCosineLR::lr_at(std::size_t s) const {
  const double base = double(base_lr_);
  if (s < o_.warmup) return static_cast<float>(base * double(s + 1) / double(o_.warmup + 1));
  if (s >= o_.total) return o_.eta_min;
  const double t = double(s - o_.warmup) / double(o_.total - o_.warmup);
  return static_cast<float>(std::max(cosine_from_to(base, double(o_.eta_min), t), 0.0));
}

OneCycleLR::OneCycleLR(Optimizer& opt, OneCycleOptions o) : LRScheduler(opt, o.every), o_(o) {
  constexpr const char* kWho = "OneCycleLR";
  check_arg(std::isfinite(o.max_lr) && o.max_lr > 0.0f, kWho, "max_lr", "finite and > 0",
            format_float(o.max_lr));
  check_arg(o.total_steps > 1, kWho, "total_steps", "> 1", std::to_string(o.total_steps));
  check_arg(o.pct_start > 0.0f && o.pct_start < 1.0f, kWho, "pct_start", "in (0, 1)",
            format_float(o.pct_start));
  const double up = double(o.pct_start) * double(o.total_steps) - 1.0;
  check_arg(up > 0.0 && up < double(o.total_steps - 1), kWho, "pct_start · total_steps",
            "in (1, total_steps) so that both phases have a step",
            format_float(double(o.pct_start) * double(o.total_steps)));
  check_arg(std::isfinite(o.div_factor) && o.div_factor >= 1.0f, kWho, "div_factor",
            "finite and >= 1", format_float(o.div_factor));
  check_arg(std::isfinite(o.final_div_factor) && o.final_div_factor >= 1.0f, kWho,
            "final_div_factor", "finite and >= 1", format_float(o.final_div_factor));
  base_lr_ = o.max_lr;
  opt_.set_lr(lr_at(0));
}

float OneCycleLR::lr_at(std::size_t s) const {
  const double peak = double(o_.max_lr);
  const double initial = peak / double(o_.div_factor);
  const double final_lr = initial / double(o_.final_div_factor);
  const double up = double(o_.pct_start) * double(o_.total_steps) - 1.0;
  const double last = double(o_.total_steps - 1);
  const double x = double(s);
  if (x <= up) return static_cast<float>(cosine_from_to(initial, peak, x / up));
  if (x <= last) return static_cast<float>(cosine_from_to(peak, final_lr, (x - up) / (last - up)));
  return static_cast<float>(final_lr);
}

}  // namespace minicnn
