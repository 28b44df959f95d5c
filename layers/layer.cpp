#include "layer.hpp"

#include <algorithm>

#include "../core/parallel.hpp"

namespace minicnn {

Tensor Layer::forward(const Tensor& x) { return forward_tracked(x, nullptr); }

Tensor Layer::forward(Tensor&& x) { return forward_tracked(x, &x); }

Tensor Layer::forward_tracked(const Tensor& x, Tensor* owned) {
  // In eval mode nothing of the layer's is written (so that many threads may share it);
  // saved_valid_ is already false there, set_training(false) having forgotten it.
  if (!training_) return forward_impl(x);
  saved_valid_ = false;
  forgotten_by_.clear();
  Shape xs = shape_of(x);
  Tensor y = owned ? forward_owned_impl(std::move(*owned)) : forward_impl(x);
  saved_.x_shape = std::move(xs);
  saved_.y_shape = shape_of(y);
  saved_valid_ = true;
  return y;
}

Tensor Layer::forward_owned_impl(Tensor&& x) {
  saved_.x = std::move(x);
  lent_kept_ = false;
  Tensor y;
  try {
    y = forward_impl(saved_.x);
  } catch (...) {
    saved_.x = Tensor();
    throw;
  }
  if (!lent_kept_) saved_.x = Tensor();
  return y;
}

Tensor& InputGrad::value() {
  if (!dx_)
    throw Error("no input gradient: the layer was told nobody needs it "
                "(set_needs_input_grad(false))");
  return *dx_;
}

const Tensor& InputGrad::value() const { return const_cast<InputGrad&>(*this).value(); }

InputGrad Layer::backward(const Tensor& dy) {
  if (!saved_valid_) {
    // (An eval-mode forward leaves no trace, so the message covers both cases: a change
    // since the last training forward, with or without eval forwards after it.)
    if (!forgotten_by_.empty())
      throw Error(name() + ": backward called without a forward in training mode since " +
                  forgotten_by_ + " changed the layer; run forward again");
    throw Error(name() + ": backward called without a forward in training mode before it");
  }
  check_shape(shape_of(dy), saved_.y_shape, name(), "dy");
  if (!needs_input_grad_) {
    backward_impl(dy, nullptr);
    return {};
  }
  Tensor dx = Tensor::from_shape(saved_.x_shape);
  backward_impl(dy, &dx);
  check_shape(shape_of(dx), saved_.x_shape, name(), "input gradient");
  return dx;
}

std::string Layer::name_for(const Shape&) const { return name(); }

double Layer::flops(const Shape&) const { return 0.0; }

void Layer::set_training(bool on) {
  if (on != training_) forget_saved(on ? "set_training(true)" : "set_training(false)");
  training_ = on;
}

void Layer::set_needs_input_grad(bool on) {
  if (on != needs_input_grad_)
    forget_saved(on ? "set_needs_input_grad(true)" : "set_needs_input_grad(false)");
  needs_input_grad_ = on;
}

void Layer::zero_grad() {
  for (Parameter& p : parameters())
    if (p.grad != nullptr) p.grad->fill(0.0f);
}

void Layer::keep(Tensor& slot, const Tensor& t) {
  if (&slot == &t) {
    lent_kept_ = true;
    return;
  }
  if (slot.shape() != t.shape()) slot.resize(t.shape());
  const float* from = t.data();
  float* to = slot.data();
  parallel_runs(t.size(), [&](std::size_t i0, std::size_t i1) {
    std::copy(from + i0, from + i1, to + i0);
  });
}

void Layer::forget_saved(const std::string& what) {
  if (!saved_valid_) return;
  saved_valid_ = false;
  forgotten_by_ = what;
}

}  // namespace minicnn
