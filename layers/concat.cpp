#include "concat.hpp"

#include <algorithm>
#include <cstring>

#include "../core/parallel.hpp"

namespace minicnn {

Layer& Concat::add(std::unique_ptr<Layer> branch) {
  return add(std::to_string(children_.size()), std::move(branch));
}

Layer& Concat::add(std::string branch_name, std::unique_ptr<Layer> branch) {
  if (branch) branch->set_needs_input_grad(needs_input_grad_);
  return adopt(std::move(branch_name), std::move(branch));
}

std::string Concat::name() const {
  const std::size_t n = children_.size();
  return "Concat(" + std::to_string(n) + (n == 1 ? " branch)" : " branches)");
}

std::vector<Shape> Concat::branch_shapes(const Shape& x) const {
  if (children_.empty()) throw Error(name() + ": has no branch");
  std::vector<Shape> shapes;
  for (std::size_t i = 0; i < children_.size(); ++i) {
    Shape s = children_[i].layer->output_shape(x);
    if (s.size() < 2)
      throw Error(who(i) + ": output " + to_string(s) + " has no channel axis to join along");
    if (i > 0) {
      Shape a = shapes[0], b = s;
      a[1] = b[1] = 0;
      if (a != b) {
        throw Error(who(i) + " gives " + to_string(s) + ", which does not join branch 0's " +
                    to_string(shapes[0]) + " along axis 1 (input " + to_string(x) + ")");
      }
    }
    shapes.push_back(std::move(s));
  }
  return shapes;
}

Shape Concat::output_shape(const Shape& x) const {
  const std::vector<Shape> shapes = branch_shapes(x);
  Shape y = shapes[0];
  y[1] = 0;
  for (const Shape& s : shapes) y[1] += s[1];
  return y;
}

std::vector<Shape> Concat::child_inputs(const Shape& x) const {
  return std::vector<Shape>(children_.size(), x);
}

double Concat::flops(const Shape& x) const {
  double f = 0;
  for (const Child& c : children_) f += c.layer->flops(x);
  return f;
}

void Concat::set_needs_input_grad(bool on) {
  Layer::set_needs_input_grad(on);
  for (Child& c : children_) c.layer->set_needs_input_grad(on);
}

// A tensor (N, C, rest...) is N rows of C·rest values; branch i's rows go to the columns
// [offset_i, offset_i + C_i·rest) of y's rows of C_total·rest.
Tensor Concat::forward_impl(const Tensor& x) {
  const Shape ys = output_shape(shape_of(x));
  const std::size_t N = ys[0], row = numel(ys) / N;
  Tensor y = Tensor::from_shape(ys);
  std::size_t offset = 0;
  for (Child& c : children_) {
    const Tensor b = c.layer->forward(x);
    const std::size_t part = b.size() / N;
    const float* src = b.data();
    float* dst = y.data();
    parallel_for(N, [&](std::size_t n) {
      std::memcpy(dst + n * row + offset, src + n * part, part * sizeof(float));
    }, b.size());
    offset += part;
  }
  return y;
}

void Concat::backward_impl(const Tensor& dy, Tensor* dx) {
  const Shape& ys = saved().y_shape;
  const std::size_t N = ys[0], row = numel(ys) / N;
  std::size_t offset = 0;
  bool first = true;
  for (std::size_t i = 0; i < children_.size(); ++i) {
    Layer& branch = *children_[i].layer;
    const Shape bs = branch.output_shape(saved().x_shape);
    const std::size_t part = numel(bs) / N;
    Tensor slice = Tensor::from_shape(bs);  // the branch's dy: its columns of dy's rows
    const float* src = dy.data();
    float* dst = slice.data();
    parallel_for(N, [&](std::size_t n) {
      std::memcpy(dst + n * part, src + n * row + offset, part * sizeof(float));
    }, slice.size());
    offset += part;
    InputGrad g = branch.backward(slice);
    if (!dx) continue;
    if (!g) throw Error(who(i) + ": its input gradient is off (set_needs_input_grad(false))");
    if (first) {
      *dx = std::move(*g);
      first = false;
    } else {
      float* pdx = dx->data();
      const float* pg = g->data();
      parallel_for(dx->size(), [&](std::size_t k) { pdx[k] += pg[k]; });
    }
  }
}

}  // namespace minicnn
