#include "sequential.hpp"

#include <typeinfo>

#include "activation.hpp"
#include "batchnorm.hpp"

namespace minicnn {

bool Sequential::fuses(std::size_t i) const {
  if (i + 1 >= children_.size()) return false;
  const Layer& next = *children_[i + 1].layer;
  return typeid(next) == typeid(ReLU) && typeid(*children_[i].layer) == typeid(BatchNorm2D);
}

Layer& Sequential::add(std::unique_ptr<Layer> layer) {
  return add(std::to_string(children_.size()), std::move(layer));
}

Layer& Sequential::add(std::string child_name, std::unique_ptr<Layer> layer) {
  if (layer == nullptr) {
    throw Error("Sequential::add: layer " + std::to_string(children_.size()) + " ('" +
                child_name + "') is null");
  }
  layer->set_needs_input_grad(children_.empty() ? needs_input_grad_ : true);
  Layer& added = adopt(std::move(child_name), std::move(layer));
  checked_ = false;
  return added;
}

Shape Sequential::layer_output_shape(std::size_t i, const Shape& x) const {
  const Layer& layer = *children_[i].layer;
  try {
    return layer.output_shape(x);
  } catch (const Error& e) {
    throw Error("Sequential: layer " + children_[i].name + " " + layer.name() +
                " cannot take input of shape " + to_string(x) + ": " + e.what());
  }
}

Shape Sequential::output_shape(const Shape& x) const {
  Shape s = x;
  for (std::size_t i = 0; i < children_.size(); ++i) s = layer_output_shape(i, s);
  return s;
}

std::vector<Shape> Sequential::child_inputs(const Shape& x) const {
  std::vector<Shape> inputs;
  Shape s = x;
  for (std::size_t i = 0; i < children_.size(); ++i) {
    inputs.push_back(s);
    s = layer_output_shape(i, s);
  }
  return inputs;
}

Tensor Sequential::forward_impl(const Tensor& x) { return run_forward(x, nullptr); }

Tensor Sequential::forward_owned_impl(Tensor&& x) { return run_forward(x, &x); }

Tensor Sequential::run_forward(const Tensor& x, Tensor* owned) {
  const Shape xs = shape_of(x);
  if (!checked_ || xs != checked_input_) {
    output_shape(xs);
    if (training_) {  // eval mode writes nothing: threads may share the model
      checked_input_ = xs;
      checked_ = true;
    }
  }
  if (children_.empty()) return owned ? std::move(*owned) : x;
  const std::size_t n = children_.size();
  if (training_) fused_.assign(n, 0);
  std::size_t i = 0;
  try {
    Tensor y;
    for (; i < n; ++i) {
      Layer& layer = *children_[i].layer;
      const bool first = i == 0;
      if (fuses(i)) {
        auto& bn = static_cast<BatchNorm2D&>(layer);
        y = first ? (owned ? bn.forward_relu(std::move(*owned)) : bn.forward_relu(x))
                  : bn.forward_relu(std::move(y));
        if (training_) fused_[i + 1] = 1;
        ++i;  // the ReLU, run
      } else {
        y = first ? (owned ? layer.forward(std::move(*owned)) : layer.forward(x))
                  : layer.forward(std::move(y));
      }
    }
    return y;
  } catch (const Error& e) {
    throw Error("Sequential: forward of layer " + children_[i].name + " " + children_[i].layer->name() +
                ": " + e.what());
  }
}

void Sequential::backward_impl(const Tensor& dy, Tensor* dx) {
  if (children_.empty()) {
    if (dx) *dx = dy;
    return;
  }
  std::size_t i = children_.size();
  try {
    const Tensor* grad = &dy;
    InputGrad g;
    while (i > 0) {
      --i;
      if (i < fused_.size() && fused_[i]) continue;  // a ReLU its BatchNorm2D ran
      g = children_[i].layer->backward(*grad);
      // add() tells every layer but the first to compute its input gradient.
      if (i > 0 && !g) throw Error("its input gradient is off (set_needs_input_grad(false))");
      if (g) grad = &*g;
    }
    if (dx) {
      if (!g) throw Error("its input gradient is off (set_needs_input_grad(false))");
      *dx = std::move(*g);
    }
  } catch (const Error& e) {
    throw Error("Sequential: backward of layer " + children_[i].name + " " + children_[i].layer->name() +
                ": " + e.what());
  }
}

std::string Sequential::name() const {
  const std::size_t n = children_.size();
  return "Sequential(" + std::to_string(n) + (n == 1 ? " layer)" : " layers)");
}

double Sequential::flops(const Shape& x) const {
  double total = 0;
  Shape s = x;
  for (std::size_t i = 0; i < children_.size(); ++i) {
    const Shape next = layer_output_shape(i, s);
    total += children_[i].layer->flops(s);
    s = next;
  }
  return total;
}

void Sequential::set_needs_input_grad(bool on) {
  Layer::set_needs_input_grad(on);
  if (!children_.empty()) children_.front().layer->set_needs_input_grad(on);
}

}  // namespace minicnn
