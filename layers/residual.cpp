#include "residual.hpp"

#include <algorithm>
#include <typeinfo>

#include "activation.hpp"

#include "../core/ops.hpp"
#include "../core/parallel.hpp"

namespace minicnn {
namespace {

// a += b, elementwise.
void add_into(Tensor& a, const Tensor& b) {
  float* pa = a.data();
  const float* pb = b.data();
  parallel_runs(a.size(), [&](std::size_t i0, std::size_t i1) { add_run(pa + i0, pb + i0, i1 - i0); });
}

}  // namespace

Residual::Residual(std::unique_ptr<Layer> body, std::unique_ptr<Layer> shortcut,
                   std::unique_ptr<Layer> act, ResidualOptions opt)
    : shortcut_(shortcut != nullptr), act_(act != nullptr) {
  if (body == nullptr) throw Error("Residual: the body is null");
  check_arg(!shortcut_ || !opt.shortcut_name.empty(), "Residual", "shortcut_name", "non-empty",
            "''");
  adopt("", std::move(body));
  if (shortcut_) adopt(opt.shortcut_name, std::move(shortcut));
  if (act_) adopt("act", std::move(act));
  set_needs_input_grad(needs_input_grad_);
}

std::string Residual::name() const {
  std::string s = "Residual(";
  s += shortcut_ ? children_[1].layer->name() : "identity";
  if (act_) s += ", " + children_.back().layer->name();
  return s + ")";
}

Shape Residual::output_shape(const Shape& x) const {
  const Shape y = children_[0].layer->output_shape(x);
  const Shape s = shortcut_ ? children_[1].layer->output_shape(x) : x;
  if (s != y) {
    throw Error(name() + ": the body gives " + to_string(y) + " but the shortcut (branch " +
                (shortcut_ ? std::string("1, ") + children_[1].name : std::string("identity")) +
                ") gives " + to_string(s) + " for input " + to_string(x));
  }
  return act_ ? children_.back().layer->output_shape(y) : y;
}

std::vector<Shape> Residual::child_inputs(const Shape& x) const {
  std::vector<Shape> inputs{x};
  if (shortcut_) inputs.push_back(x);
  if (act_) inputs.push_back(children_[0].layer->output_shape(x));
  return inputs;
}

double Residual::flops(const Shape& x) const {
  const Shape y = children_[0].layer->output_shape(x);
  double f = children_[0].layer->flops(x) + static_cast<double>(numel(y));
  if (shortcut_) f += children_[1].layer->flops(x);
  if (act_) f += children_.back().layer->flops(y);
  return f;
}

void Residual::set_needs_input_grad(bool on) {
  Layer::set_needs_input_grad(on);
  children_[0].layer->set_needs_input_grad(on);
  if (shortcut_) children_[1].layer->set_needs_input_grad(on);
  if (act_) children_.back().layer->set_needs_input_grad(true);
}

Tensor Residual::forward_impl(const Tensor& x) { return run_forward(x, nullptr); }

Tensor Residual::forward_owned_impl(Tensor&& x) { return run_forward(x, &x); }

bool Residual::fuses_relu() const {
  return act_ && typeid(*children_.back().layer) == typeid(ReLU);
}

Tensor Residual::run_forward(const Tensor& x, Tensor* owned) {
  output_shape(shape_of(x));  // both branches' shapes, named, before any work
  Tensor s = children_[0].layer->forward(x);
  Tensor short_y;
  if (shortcut_)
    short_y = owned ? children_[1].layer->forward(std::move(*owned)) : children_[1].layer->forward(x);
  const Tensor& b = shortcut_ ? short_y : x;
  if (fuses_relu()) {
    // The sum and the ReLU in one pass over s, which becomes y; in training the ReLU's
    // gradient mask is kept (a byte a value) where the ReLU would keep the sum.
    if (training_) relu_on_.resize(s.size());
    float* ps = s.data();
    const float* pb = b.data();
    unsigned char* on = training_ ? relu_on_.data() : nullptr;
    parallel_runs(s.size(), [&](std::size_t i0, std::size_t i1) {
      if (on) {
        add_relu_run(ps + i0, pb + i0, on + i0, i1 - i0);
      } else {
        add_run(ps + i0, pb + i0, i1 - i0);
        relu_run(ps + i0, ps + i0, i1 - i0);
      }
    });
    return s;
  }
  add_into(s, b);
  if (!act_) return s;
  return children_.back().layer->forward(std::move(s));
}

void Residual::backward_impl(const Tensor& dy, Tensor* dx) {
  InputGrad ds_act;
  if (fuses_relu()) {  // the training forward before this one kept the mask
    ds_act = Tensor::from_shape(dy.shape());
    const float* pdy = dy.data();
    const unsigned char* on = relu_on_.data();
    float* pds = ds_act->data();
    parallel_runs(dy.size(), [&](std::size_t i0, std::size_t i1) {
      mask_grad_run(pdy + i0, on + i0, pds + i0, i1 - i0);
    });
  } else if (act_) {
    ds_act = children_.back().layer->backward(dy);
  }
  const Tensor& ds = act_ ? *ds_act : dy;
  InputGrad d_body = children_[0].layer->backward(ds);
  if (!dx) {
    if (shortcut_) children_[1].layer->backward(ds);
    return;
  }
  if (!d_body) throw Error(who(0) + ": its input gradient is off (set_needs_input_grad(false))");
  *dx = std::move(*d_body);
  if (shortcut_) {
    const InputGrad d_short = children_[1].layer->backward(ds);
    if (!d_short) throw Error(who(1) + ": its input gradient is off (set_needs_input_grad(false))");
    add_into(*dx, *d_short);
  } else {
    add_into(*dx, ds);
  }
}

}  // namespace minicnn
