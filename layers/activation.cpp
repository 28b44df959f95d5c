#include "activation.hpp"

#include <algorithm>
#include <cmath>

#include "../core/ops.hpp"
#include "../core/parallel.hpp"

namespace minicnn {

namespace {

// y[i] = f(x[i]) for every element, split across threads when large. Each element is
// independent, so the result does not depend on the thread count.
template <class F>
Tensor map_elements(const Tensor& x, F f) {
  Tensor y = Tensor::from_shape(x.shape());
  const float* px = x.data();
  float* py = y.data();
  parallel_for(x.size(), [&](std::size_t i) { py[i] = f(px[i]); });
  return y;
}

// dx[i] = f(dy[i], kept[i]), kept being what forward saved. Both are loaded before f
// runs, so that a select in f compiles to a blend: with the load of dy inside a ?: the
// compiler branches, and the branch mispredicts on half the elements (ReLU's backward
// was twenty times slower than its forward on LeNet's first ReLU).
template <class F>
void map_gradient(const Tensor& dy, const Tensor& kept, Tensor& dx, F f) {
  const float* pdy = dy.data();
  const float* pk = kept.data();
  float* pdx = dx.data();
  parallel_for(dy.size(), [&](std::size_t i) {
    const float g = pdy[i], k = pk[i];
    pdx[i] = f(g, k);
  });
}

}  // namespace

// ---- ReLU -------------------------------------------------------------------------

Tensor ReLU::forward_impl(const Tensor& x) {
  // Keeps x rather than y (y > 0 exactly where x > 0): an input given up by the caller is
  // kept without a copy.
  Tensor y = Tensor::from_shape(x.shape());
  const float* px = x.data();
  float* py = y.data();
  parallel_runs(x.size(), [&](std::size_t i0, std::size_t i1) { relu_run(px + i0, py + i0, i1 - i0); });
  if (training_) keep(saved().x, x);
  return y;
}

void ReLU::backward_impl(const Tensor& dy, Tensor* dx) {
  if (!dx) return;
  const float* pdy = dy.data();
  const float* px = saved().x.data();
  float* pdx = dx->data();
  parallel_runs(dy.size(), [&](std::size_t i0, std::size_t i1) {
    relu_grad_run(pdy + i0, px + i0, pdx + i0, i1 - i0);
  });
}

double ReLU::flops(const Shape& x) const { return static_cast<double>(numel(x)); }

// ---- LeakyReLU --------------------------------------------------------------------

LeakyReLU::LeakyReLU(float slope) : slope_(slope) {
  check_arg(std::isfinite(slope), "LeakyReLU", "slope", "finite", format_float(slope));
}

std::string LeakyReLU::name() const { return "LeakyReLU(" + format_float(slope_) + ')'; }

Tensor LeakyReLU::forward_impl(const Tensor& x) {
  const float a = slope_;
  Tensor y = map_elements(x, [a](float v) { return v > 0.0f ? v : a * v; });
  // The input, not the output: with a negative slope the sign of y does not tell x's.
  if (training_) keep(saved().x, x);
  return y;
}

void LeakyReLU::backward_impl(const Tensor& dy, Tensor* dx) {
  const float a = slope_;
  if (dx) map_gradient(dy, saved().x, *dx, [a](float g, float x) { return x > 0.0f ? g : a * g; });
}

double LeakyReLU::flops(const Shape& x) const { return static_cast<double>(numel(x)); }

// ---- Sigmoid ----------------------------------------------------------------------

Tensor Sigmoid::forward_impl(const Tensor& x) {
  // exp of a non-positive argument only, so that neither branch overflows.
  Tensor y = map_elements(x, [](float v) {
    if (v >= 0.0f) return 1.0f / (1.0f + std::exp(-v));
    const float e = std::exp(v);
    return e / (1.0f + e);
  });
  if (training_) keep(saved().y, y);
  return y;
}

void Sigmoid::backward_impl(const Tensor& dy, Tensor* dx) {
  if (dx) map_gradient(dy, saved().y, *dx, [](float g, float y) { return g * y * (1.0f - y); });
}

// exp, add, divide and a negation per element.
double Sigmoid::flops(const Shape& x) const { return 4.0 * static_cast<double>(numel(x)); }

// ---- Tanh -------------------------------------------------------------------------

Tensor Tanh::forward_impl(const Tensor& x) {
  Tensor y = map_elements(x, [](float v) { return std::tanh(v); });
  if (training_) keep(saved().y, y);
  return y;
}

void Tanh::backward_impl(const Tensor& dy, Tensor* dx) {
  if (dx) map_gradient(dy, saved().y, *dx, [](float g, float y) { return g * (1.0f - y * y); });
}

// Counted as two exps, an add, a subtract and a divide.
double Tanh::flops(const Shape& x) const { return 5.0 * static_cast<double>(numel(x)); }

// ---- Softmax ----------------------------------------------------------------------

Shape Softmax::output_shape(const Shape& x) const {
  if (x.size() != 2)
    throw Error(name() + ": expected input of rank 2 (N, K), got shape " + to_string(x));
  check_arg(x[1] > 0, name(), "the number of classes K", "> 0", to_string(x));
  return x;
}

Tensor Softmax::forward_impl(const Tensor& x) {
  const Shape s = output_shape(shape_of(x));
  Tensor y = Tensor::from_shape(s);
  softmax_rows(x.data(), y.data(), s[0], s[1]);
  if (training_) keep(saved().y, y);
  return y;
}

void Softmax::backward_impl(const Tensor& dy, Tensor* dx) {
  if (!dx) return;
  const Tensor& y = saved().y;
  const std::size_t N = y.shape()[0], K = y.shape()[1];
  const float* py = y.data();
  const float* pdy = dy.data();
  float* pdx = dx->data();
  parallel_for(N, [&](std::size_t n) {
    const float* yr = py + n * K;
    const float* dyr = pdy + n * K;
    float* dxr = pdx + n * K;
    double dot = 0.0;
    for (std::size_t k = 0; k < K; ++k) dot += static_cast<double>(dyr[k]) * yr[k];
    const float d = static_cast<float>(dot);
    for (std::size_t k = 0; k < K; ++k) dxr[k] = yr[k] * (dyr[k] - d);
  }, N * K);
}

// Per element: the max pass, a subtract, an exp, the sum and the scale.
double Softmax::flops(const Shape& x) const { return 5.0 * static_cast<double>(numel(x)); }

}  // namespace minicnn
