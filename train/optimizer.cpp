#include "optimizer.hpp"

#include <algorithm>
#include <cmath>
#include <set>
#include <utility>

#include <xtensor/xbuilder.hpp>

#include "../core/parallel.hpp"

namespace minicnn {
namespace {

// A state tensor of zeros for each parameter.
std::vector<Tensor> zero_state(const std::vector<Parameter>& params) {
  std::vector<Tensor> state;
  state.reserve(params.size());
  for (const Parameter& p : params) state.emplace_back(xt::zeros_like(*p.value));
  return state;
}

}  // namespace

Optimizer::Optimizer(std::vector<Parameter> params, float lr)
    : Optimizer(std::move(params), lr, "Optimizer") {}

Optimizer::Optimizer(std::vector<Parameter> params, float lr, std::string who)
    : params_(std::move(params)), lr_(lr), who_(std::move(who)) {
  check_non_negative(lr, who_, "lr");
  std::set<const Tensor*> seen;
  for (const Parameter& p : params_) {
    const std::string what = "parameter '" + p.name + "'";
    if (p.value == nullptr) throw Error(who_ + ": " + what + " has no value");
    if (p.grad == nullptr) {
      throw Error(who_ + ": " + what +
                  " has no gradient (a buffer cannot be optimised; pass parameters())");
    }
    check_shape(shape_of(*p.grad), shape_of(*p.value), who_, "the gradient of " + what);
    if (!seen.insert(p.value).second) {
      throw Error(who_ + ": " + what + " appears more than once");
    }
  }
}

void Optimizer::zero_grad() {
  for (std::size_t i = 0; i < params_.size(); ++i) check_size(i, params_[i].value->size());
  sweep([&](std::size_t i, std::size_t j0, std::size_t j1) {
    float* g = params_[i].grad->data();
    std::fill(g + j0, g + j1, 0.0f);
  });
}

void Optimizer::set_lr(float lr) {
  check_non_negative(lr, who_, "lr");
  lr_ = lr;
}

void Optimizer::check_size(std::size_t i, std::size_t size) const {
  const Parameter& p = params_[i];
  if (p.value->size() != size || p.grad->size() != size) {
    throw Error(who_ + ": parameter '" + p.name + "' has changed size since the optimiser " +
                "was made: value " + to_string(shape_of(*p.value)) + ", gradient " +
                to_string(shape_of(*p.grad)) + ", state of " + std::to_string(size) + " elements");
  }
}

void Optimizer::sweep(const std::function<void(std::size_t, std::size_t, std::size_t)>& f) {
  pieces_.clear();
  std::size_t total = 0;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const std::size_t n = params_[i].value->size();
    for (std::size_t j = 0; j < n; j += kRun) pieces_.push_back({i, j, std::min(n, j + kRun)});
    total += n;
  }
  parallel_for(pieces_.size(), [&](std::size_t k) { f(pieces_[k].i, pieces_[k].j0, pieces_[k].j1); },
               total);
}

SGD::SGD(std::vector<Parameter> params, SGDOptions opt)
    : Optimizer(std::move(params), opt.lr, "SGD"), opt_(opt) {
  check_arg(opt.momentum >= 0.0f && opt.momentum < 1.0f, who_, "momentum", "in [0, 1)",
            format_float(opt.momentum));
  check_non_negative(opt.weight_decay, who_, "weight_decay");
  check_arg(!opt.nesterov || opt.momentum > 0.0f, who_, "momentum", "> 0 when nesterov is on",
            format_float(opt.momentum));
  if (opt.momentum > 0.0f) velocity_ = zero_state(params_);
}

// g' = g + wd·θ;  v = μ·v + g';  θ −= lr·v   (nesterov: θ −= lr·(g' + μ·v))
// Elementwise, so a large tensor is split across threads without changing any result.
void SGD::step() {
  ++steps_;
  const float lr = lr_, mu = opt_.momentum, wd = opt_.weight_decay;
  for (std::size_t i = 0; i < params_.size(); ++i)
    check_size(i, mu == 0.0f ? params_[i].value->size() : velocity_[i].size());
  sweep([&](std::size_t i, std::size_t j0, std::size_t j1) {
    float* theta = params_[i].value->data();
    const float* g = params_[i].grad->data();
    if (mu == 0.0f) {
      for (std::size_t j = j0; j < j1; ++j) theta[j] -= lr * (g[j] + wd * theta[j]);
      return;
    }
    float* v = velocity_[i].data();
    if (opt_.nesterov) {
      for (std::size_t j = j0; j < j1; ++j) {
        const float gj = g[j] + wd * theta[j];
        v[j] = mu * v[j] + gj;
        theta[j] -= lr * (gj + mu * v[j]);
      }
    } else {
      for (std::size_t j = j0; j < j1; ++j) {
        v[j] = mu * v[j] + (g[j] + wd * theta[j]);
        theta[j] -= lr * v[j];
      }
    }
  });
}

std::vector<Optimizer::StateTensor> SGD::state() {
  std::vector<StateTensor> out;
  for (std::size_t i = 0; i < velocity_.size(); ++i)
    out.push_back({"momentum_buffer." + params_[i].name, &velocity_[i]});
  return out;
}

Adam::Adam(std::vector<Parameter> params, AdamOptions opt)
    : Optimizer(std::move(params), opt.lr, opt.decoupled ? "AdamW" : "Adam"), opt_(opt) {
  check_arg(opt.beta1 >= 0.0f && opt.beta1 < 1.0f, who_, "beta1", "in [0, 1)",
            format_float(opt.beta1));
  check_arg(opt.beta2 >= 0.0f && opt.beta2 < 1.0f, who_, "beta2", "in [0, 1)",
            format_float(opt.beta2));
  check_arg(std::isfinite(opt.eps) && opt.eps > 0.0f, who_, "eps", "finite and > 0",
            format_float(opt.eps));
  check_non_negative(opt.weight_decay, who_, "weight_decay");
  m_ = zero_state(params_);
  v_ = zero_state(params_);
}

// At step t:  g' = g + wd·θ  (decoupled: θ −= lr·wd·θ, g' = g)
//   m = β1·m + (1 − β1)·g';  v = β2·v + (1 − β2)·g'²
//   θ −= (lr / (1 − β1ᵗ)) · m / (sqrt(v) / sqrt(1 − β2ᵗ) + eps)
// (the grouping PyTorch uses, so the two agree to rounding).
void Adam::step() {
  ++steps_;
  const float b1 = opt_.beta1, b2 = opt_.beta2, eps = opt_.eps;
  const double t = static_cast<double>(steps_);
  const float step_size =
      static_cast<float>(static_cast<double>(lr_) / (1.0 - std::pow(double(b1), t)));
  const float sqrt_bc2 = static_cast<float>(std::sqrt(1.0 - std::pow(double(b2), t)));
  const float coupled_wd = opt_.decoupled ? 0.0f : opt_.weight_decay;
  const float decay = opt_.decoupled ? 1.0f - lr_ * opt_.weight_decay : 1.0f;
  for (std::size_t i = 0; i < params_.size(); ++i) check_size(i, m_[i].size());
  sweep([&](std::size_t i, std::size_t j0, std::size_t j1) {
    float* theta = params_[i].value->data();
    const float* g = params_[i].grad->data();
    float* m = m_[i].data();
    float* v = v_[i].data();
    for (std::size_t j = j0; j < j1; ++j) {
      theta[j] *= decay;
      const float gj = g[j] + coupled_wd * theta[j];
      m[j] = b1 * m[j] + (1.0f - b1) * gj;
      v[j] = b2 * v[j] + (1.0f - b2) * gj * gj;
      theta[j] -= step_size * (m[j] / (std::sqrt(v[j]) / sqrt_bc2 + eps));
    }
  });
}

std::vector<Optimizer::StateTensor> Adam::state() {
  std::vector<StateTensor> out;
  for (std::size_t i = 0; i < m_.size(); ++i) out.push_back({"exp_avg." + params_[i].name, &m_[i]});
  for (std::size_t i = 0; i < v_.size(); ++i)
    out.push_back({"exp_avg_sq." + params_[i].name, &v_[i]});
  return out;
}

}  // namespace minicnn
