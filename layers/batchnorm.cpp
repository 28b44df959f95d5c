#include "batchnorm.hpp"

#include <algorithm>
#include <cmath>

#include "../core/ops.hpp"
#include "../core/parallel.hpp"
#include "../core/simd.hpp"

namespace minicnn {

BatchNorm2D::BatchNorm2D(std::size_t C, const BatchNormOptions& opt) : C_(C), opt_(opt) {
  check_arg(C > 0, "BatchNorm2D", "C (channels)", "> 0", std::to_string(C));
  check_arg(opt.eps > 0.0f && std::isfinite(opt.eps), "BatchNorm2D", "eps", "finite and > 0",
            format_float(opt.eps));
  check_arg(opt.momentum >= 0.0f && opt.momentum <= 1.0f, "BatchNorm2D", "momentum",
            "in [0, 1]", format_float(opt.momentum));
  weight_ = Tensor(Shape{C}, 1.0f);
  bias_ = zeros({C});
  dweight_ = zeros({C});
  dbias_ = zeros({C});
  running_mean_ = zeros({C});
  running_var_ = Tensor(Shape{C}, 1.0f);
  count_as_float_ = zeros({});
}

std::string BatchNorm2D::name() const { return "BatchNorm2D(" + std::to_string(C_) + ')'; }

std::vector<Parameter> BatchNorm2D::parameters() {
  return {{"weight", &weight_, &dweight_}, {"bias", &bias_, &dbias_}};
}

std::vector<Parameter> BatchNorm2D::buffers() {
  count_as_float_() = static_cast<float>(num_batches_tracked_);
  return {{"running_mean", &running_mean_, nullptr},
          {"running_var", &running_var_, nullptr},
          {"num_batches_tracked", &count_as_float_, nullptr, &num_batches_tracked_}};
}

Shape BatchNorm2D::output_shape(const Shape& x) const {
  if (x.size() != 4)
    throw Error(name() + ": expected input of rank 4 (N, " + std::to_string(C_) +
                ", H, W), got shape " + to_string(x));
  check_shape(x, {x[0], C_, x[2], x[3]}, name());
  return x;
}

double BatchNorm2D::flops(const Shape& x) const {
  return 4.0 * static_cast<double>(numel(output_shape(x)));
}

void BatchNorm2D::check_state() const {
  const Shape c{C_};
  check_shape(shape_of(weight_), c, name(), "weight");
  check_shape(shape_of(bias_), c, name(), "bias");
  check_shape(shape_of(dweight_), c, name(), "weight gradient");
  check_shape(shape_of(dbias_), c, name(), "bias gradient");
  check_shape(shape_of(running_mean_), c, name(), "running_mean");
  check_shape(shape_of(running_var_), c, name(), "running_var");
}

namespace {

// The loops over one plane of a channel, compiled for several instruction sets
// (core/simd.hpp).

// y = x·scale + shift (eval mode), then max(y, 0) with `relu`.
MINICNN_SIMD_CLONES void scale_shift(const float* x, std::size_t n, float scale, float shift,
                                     bool relu, float* y) {
  if (relu)
    for (std::size_t i = 0; i < n; ++i) y[i] = std::max(x[i] * scale + shift, 0.0f);
  else
    for (std::size_t i = 0; i < n; ++i) y[i] = x[i] * scale + shift;
}

// y = γ·x̂ + β with x̂ = (x − mean)·r (training), then max(y, 0) with `relu` (a NaN stays
// NaN, as in ReLU).
MINICNN_SIMD_CLONES void normalize(const float* x, std::size_t n, float mean, float r,
                                   float gamma, float beta, bool relu, float* y) {
  if (relu)
    for (std::size_t i = 0; i < n; ++i) y[i] = std::max(gamma * ((x[i] - mean) * r) + beta, 0.0f);
  else
    for (std::size_t i = 0; i < n; ++i) y[i] = gamma * ((x[i] - mean) * r) + beta;
}

// dx = k·(dy − mean(dy) − x̂·mean(dy·x̂)), x̂ made again from x as forward made it.
MINICNN_SIMD_CLONES void input_grad(const float* dy, const float* x, std::size_t n, float mean,
                                    float r, float k, float mean_dy, float mean_dy_xhat,
                                    float* dx) {
  for (std::size_t i = 0; i < n; ++i)
    dx[i] = k * (dy[i] - mean_dy - ((x[i] - mean) * r) * mean_dy_xhat);
}

// The same with dy through the ReLU: g = dy where γ·x̂ + β > 0, else 0, the mask made as
// normalize made the output.
MINICNN_SIMD_CLONES void input_grad_relu(const float* dy, const float* x, std::size_t n,
                                         float mean, float r, float gamma, float beta, float k,
                                         float mean_dy, float mean_dy_xhat, float* dx) {
  for (std::size_t i = 0; i < n; ++i) {
    const float xhat = (x[i] - mean) * r, d = dy[i];
    const float g = gamma * xhat + beta > 0.0f ? d : 0.0f;
    dx[i] = k * (g - mean_dy - xhat * mean_dy_xhat);
  }
}

// Set by forward_relu for the forward_impl it calls, on this thread only (an eval-mode
// forward writes nothing of the layer's, so that threads may share it).
thread_local bool t_relu = false;

template <class F>
Tensor with_relu(F&& forward) {
  t_relu = true;
  try {
    Tensor y = forward();
    t_relu = false;
    return y;
  } catch (...) {
    t_relu = false;
    throw;
  }
}

}  // namespace

Tensor BatchNorm2D::forward_relu(Tensor&& x) {
  return with_relu([&] { return forward(std::move(x)); });
}

Tensor BatchNorm2D::forward_relu(const Tensor& x) {
  return with_relu([&] { return forward(x); });
}

Tensor BatchNorm2D::forward_impl(const Tensor& x) {
  const bool relu = t_relu;
  t_relu = false;
  const Shape xs = output_shape(shape_of(x));
  check_state();
  const std::size_t N = xs[0], C = C_, HW = xs[2] * xs[3], m = N * HW;
  Tensor y = Tensor::from_shape(xs);
  const float* px = x.data();
  float* py = y.data();
  const float* gamma = weight_.data();
  const float* beta = bias_.data();

  if (!training_) {
    const float* rm = running_mean_.data();
    const float* rv = running_var_.data();
#pragma omp parallel for schedule(static) num_threads(threads_for(x.size()))
    for (std::size_t c = 0; c < C; ++c) {
      const float scale = gamma[c] / std::sqrt(rv[c] + opt_.eps);
      const float shift = beta[c] - rm[c] * scale;
      for (std::size_t n = 0; n < N; ++n)
        scale_shift(px + (n * C + c) * HW, HW, scale, shift, relu, py + (n * C + c) * HW);
    }
    return y;
  }

  if (m < 2)
    throw Error(name() + ": training needs more than one value per channel to estimate a "
                "variance, got input of shape " + to_string(xs));
  // x itself is kept, with the mean and 1/σ per channel, and backward makes x̂ again:
  // when the caller gave x up (a Sequential does), that is a write of the whole tensor
  // fewer than keeping x̂ beside y; otherwise x is copied plane by plane right after
  // normalize has read it, as x̂ was written before.
  Tensor& kept = saved().x;
  const bool lent = &kept == &x;
  if (lent)
    keep(kept, x);
  else if (kept.shape() != x.shape())
    kept.resize(x.shape());
  float* copy = lent ? nullptr : kept.data();
  // Mean and 1/σ per channel; with the ReLU also γ and β as they were, for backward's
  // mask (an optimiser step between the two leaves the mask forward applied).
  std::vector<float>& stats = saved().per_channel;
  stats.resize((relu ? 4 : 2) * C);
  if (relu) {
    std::copy(gamma, gamma + C, stats.begin() + 2 * C);
    std::copy(beta, beta + C, stats.begin() + 3 * C);
  }
  float* rm = running_mean_.data();
  float* rv = running_var_.data();
  const float mom = opt_.momentum;
  const double unbias = static_cast<double>(m) / static_cast<double>(m - 1);

  // Each channel is its own job; its sums run in a fixed order, so the result does not
  // depend on the thread count. One pass sums x − s and (x − s)² in double, s the
  // channel's first value: the variance E[(x − s)²] − E[x − s]² loses only the digits
  // that (mean − s)² / σ² takes of double's sixteen (two passes, mean then squared
  // deviations, cost a read of x more).
#pragma omp parallel for schedule(static) num_threads(threads_for(x.size()))
  for (std::size_t c = 0; c < C; ++c) {
    const double shift = px[c * HW];
    double sum = 0.0, sq = 0.0;
    for (std::size_t n = 0; n < N; ++n) {
      double s1 = 0.0, s2 = 0.0;
      moments_to_double(px + (n * C + c) * HW, HW, shift, &s1, &s2);
      sum += s1;
      sq += s2;
    }
    const double d = sum / static_cast<double>(m);
    const double mean = shift + d;
    const double var = std::max(0.0, sq / static_cast<double>(m) - d * d);
    const float r = static_cast<float>(1.0 / std::sqrt(var + opt_.eps));
    const float meanf = static_cast<float>(mean);
    stats[c] = meanf;
    stats[C + c] = r;
    for (std::size_t n = 0; n < N; ++n) {
      const std::size_t off = (n * C + c) * HW;
      normalize(px + off, HW, meanf, r, gamma[c], beta[c], relu, py + off);
      if (copy) std::copy(px + off, px + off + HW, copy + off);
    }
    rm[c] = (1.0f - mom) * rm[c] + mom * meanf;
    rv[c] = (1.0f - mom) * rv[c] + mom * static_cast<float>(var * unbias);
  }
  ++num_batches_tracked_;
  relu_ = relu;
  return y;
}

void BatchNorm2D::backward_impl(const Tensor& dy, Tensor* dx) {
  const Shape& xs = saved().x_shape;
  check_state();
  const std::size_t N = xs[0], C = C_, HW = xs[2] * xs[3], m = N * HW;
  const float* pdy = dy.data();
  const float* px = saved().x.data();
  const std::vector<float>& stats = saved().per_channel;  // mean, 1/σ (, γ, β) per channel
  const float* gamma = weight_.data();
  const float* mask_gamma = relu_ ? stats.data() + 2 * C : nullptr;  // γ and β of forward
  const float* mask_beta = relu_ ? stats.data() + 3 * C : nullptr;
  float* dgamma = dweight_.data();
  float* dbeta = dbias_.data();
  float* pdx = dx ? dx->data() : nullptr;

#pragma omp parallel for schedule(static) num_threads(threads_for(dy.size()))
  for (std::size_t c = 0; c < C; ++c) {
    const float mean = stats[c], r = stats[C + c];
    double sum_dy = 0.0, sum_dy_dev = 0.0;  // Σ dy and Σ dy·(x − mean)
    for (std::size_t n = 0; n < N; ++n) {
      const std::size_t off = (n * C + c) * HW;
      double s1 = 0.0, s2 = 0.0;
      if (relu_)
        relu_masked_sums_to_double(pdy + off, px + off, HW, mean, r, mask_gamma[c],
                                   mask_beta[c], &s1, &s2);
      else
        sum_and_dev_dot_to_double(pdy + off, px + off, HW, mean, &s1, &s2);
      sum_dy += s1;
      sum_dy_dev += s2;
    }
    const double sum_dy_xhat = sum_dy_dev * r;
    dgamma[c] += static_cast<float>(sum_dy_xhat);
    dbeta[c] += static_cast<float>(sum_dy);
    if (!pdx) continue;
    const float k = gamma[c] * r;
    const float mean_dy = static_cast<float>(sum_dy / static_cast<double>(m));
    const float mean_dy_xhat = static_cast<float>(sum_dy_xhat / static_cast<double>(m));
    for (std::size_t n = 0; n < N; ++n) {
      const std::size_t off = (n * C + c) * HW;
      if (relu_)
        input_grad_relu(pdy + off, px + off, HW, mean, r, mask_gamma[c], mask_beta[c], k,
                        mean_dy, mean_dy_xhat, pdx + off);
      else
        input_grad(pdy + off, px + off, HW, mean, r, k, mean_dy, mean_dy_xhat, pdx + off);
    }
  }
}

}  // namespace minicnn
