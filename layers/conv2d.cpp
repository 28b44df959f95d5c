#include "conv2d.hpp"

#include <sstream>

#include "../core/blas.hpp"
#include "../core/random.hpp"
#include "conv/direct.hpp"

namespace minicnn {
namespace {

ConvChoice fixed_choice(ConvAlgo a, const ConvGeom& g, ConvPass pass, int threads,
                        std::size_t limit) {
  ConvChoice c;
  c.algo = a;
  c.seconds = conv_estimate_seconds(a, g, pass, threads);
  c.workspace_bytes = conv_workspace_bytes(a, g, pass, threads, limit);
  return c;
}

}  // namespace

Conv2D::Conv2D(std::size_t in_channels, std::size_t out_channels, Kernel2D kernel,
               Conv2DOptions opt)
    : in_(in_channels), out_(out_channels), kernel_(kernel), opt_(opt) {
  const std::string who = "Conv2D";
  check_arg(in_ > 0, who, "in_channels", "> 0", std::to_string(in_));
  check_arg(out_ > 0, who, "out_channels", "> 0", std::to_string(out_));
  check_arg(kernel_.h > 0 && kernel_.w > 0, who, "kernel", "> 0 in both sizes",
            std::to_string(kernel_.h) + "x" + std::to_string(kernel_.w));
  check_arg(opt_.stride > 0, who, "stride", "> 0", std::to_string(opt_.stride));
  check_arg(opt_.dilation > 0, who, "dilation", "> 0", std::to_string(opt_.dilation));
  check_arg(opt_.workspace_limit > 0, who, "workspace_limit", "> 0", "0");
  set_algo(opt_.algo);
  im2col_ws_.limit_bytes = opt_.workspace_limit;
  weight_ = zeros({out_, in_, kernel_.h, kernel_.w});
  he_normal(weight_, in_ * kernel_.h * kernel_.w);
  dweight_ = zeros(shape_of(weight_));
  if (opt_.bias) {
    bias_ = zeros({out_});
    dbias_ = zeros({out_});
  }
}

void Conv2D::set_algo(ConvAlgo a) {
  if (a == ConvAlgo::FFT && (opt_.stride != 1 || opt_.dilation != 1)) {
    throw Error(name() + ": the FFT algorithm needs stride 1 and dilation 1, got stride " +
                std::to_string(opt_.stride) + " and dilation " + std::to_string(opt_.dilation));
  }
  opt_.algo = a;
  plans_.clear();
}

ConvGeom Conv2D::geometry(const Shape& x) const {
  if (x.size() != 4 || x[1] != in_) {
    throw Error(name() + ": expected input (N, " + std::to_string(in_) + ", H, W), got " +
                to_string(x));
  }
  return ConvGeom::make(x[0], x[1], x[2], x[3], out_, kernel_.h, kernel_.w, opt_.stride,
                        opt_.padding, opt_.dilation, name());
}

Shape Conv2D::output_shape(const Shape& x) const {
  const ConvGeom g = geometry(x);
  last_shape_ = x;
  return {g.N, g.K, g.OH, g.OW};
}

double Conv2D::flops(const Shape& x) const {
  const ConvGeom g = geometry(x);
  return g.flops() + (opt_.bias ? double(g.N * g.K * g.OH * g.OW) : 0.0);
}

ConvPlan Conv2D::plan(const Shape& x) const {
  const ConvGeom g = geometry(x);
  auto it = plans_.find(g.N);
  if (it != plans_.end()) return it->second;
  const int T = num_threads();
  ConvPlan p;
  const ConvPass passes[3] = {ConvPass::Forward, ConvPass::BackwardData,
                              ConvPass::BackwardWeights};
  const bool tune = opt_.autotune || conv_autotune_from_env();
  for (int i = 0; i < 3; ++i) {
    if (opt_.algo != ConvAlgo::Auto) {
      p[i] = fixed_choice(opt_.algo, g, passes[i], T, opt_.workspace_limit);
    } else if (tune) {
      p[i] = conv_autotune(g, passes[i], T, opt_.workspace_limit);
    } else {
      p[i] = conv_select(g, passes[i], T, opt_.workspace_limit);
    }
  }
  plans_.emplace(g.N, p);
  return p;
}

std::string Conv2D::name() const {
  std::ostringstream s;
  s << "Conv2D(" << in_ << "->" << out_ << ", " << kernel_.h << "x" << kernel_.w;
  if (opt_.stride != 1) s << ", stride " << opt_.stride;
  if (opt_.padding != 0) s << ", padding " << opt_.padding;
  if (opt_.dilation != 1) s << ", dilation " << opt_.dilation;
  if (!opt_.bias) s << ", no bias";
  s << ", " << to_string(opt_.algo);
  if (opt_.algo == ConvAlgo::Auto && !last_shape_.empty()) {
    auto it = plans_.find(last_shape_[0]);
    if (it != plans_.end()) {
      s << ": " << to_string(it->second[0].algo) << "/" << to_string(it->second[1].algo) << "/"
        << to_string(it->second[2].algo);
    }
  }
  s << ")";
  return s.str();
}

std::vector<Parameter> Conv2D::parameters() {
  std::vector<Parameter> p{{"weight", &weight_, &dweight_}};
  if (opt_.bias) p.push_back({"bias", &bias_, &dbias_});
  return p;
}

Tensor Conv2D::forward(const Tensor& x) {
  const Shape xs = shape_of(x);
  const ConvGeom g = geometry(xs);
  last_shape_ = xs;
  const ConvPlan p = plan(xs);
  Tensor y = Tensor::from_shape({g.N, g.K, g.OH, g.OW});
  const float* b = opt_.bias ? bias_.data() : nullptr;
  if (p[0].algo != ConvAlgo::FFT) fft_ws_.invalidate();
  switch (p[0].algo) {
    case ConvAlgo::FFT: conv2d_fft_forward(g, x.data(), weight_.data(), b, y.data(), fft_ws_); break;
    case ConvAlgo::Im2colGemm:
      conv2d_im2col_forward(g, x.data(), weight_.data(), b, y.data(), im2col_ws_);
      break;
    default: conv2d_direct_forward(g, x.data(), weight_.data(), b, y.data()); break;
  }
  cached_ = training();
  have_x_ = false;
  if (cached_) {
    cached_geom_ = g;
    // FFT's backward-weights reads the input's spectrum that forward left behind.
    const bool spectrum_kept = p[0].algo == ConvAlgo::FFT && p[2].algo == ConvAlgo::FFT;
    if (!spectrum_kept) {
      x_ = x;
      have_x_ = true;
    }
  }
  return y;
}

Tensor Conv2D::backward(const Tensor& dy) {
  if (!cached_) {
    throw Error(name() + ": backward called without a forward in training mode before it");
  }
  const ConvGeom& g = cached_geom_;
  check_shape(shape_of(dy), {g.N, g.K, g.OH, g.OW}, name(), "dy");
  const ConvPlan p = plan({g.N, g.C, g.H, g.W});
  fft_ws_.dy_valid = false;  // a new dy: its spectrum is made once, below, and shared
  float* db = opt_.bias ? dbias_.data() : nullptr;
  const float* x = have_x_ ? x_.data() : nullptr;
  switch (p[2].algo) {
    case ConvAlgo::FFT:
      conv2d_fft_backward_weights(g, x, dy.data(), dweight_.data(), db, fft_ws_, true);
      break;
    case ConvAlgo::Im2colGemm:
      conv2d_im2col_backward_weights(g, x, dy.data(), dweight_.data(), db, im2col_ws_);
      break;
    default: conv2d_direct_backward_weights(g, x, dy.data(), dweight_.data(), db); break;
  }
  if (!needs_input_grad()) return empty_tensor();
  Tensor dx = Tensor::from_shape({g.N, g.C, g.H, g.W});
  switch (p[1].algo) {
    case ConvAlgo::FFT:
      conv2d_fft_backward_data(g, dy.data(), weight_.data(), dx.data(), fft_ws_, true);
      break;
    case ConvAlgo::Im2colGemm:
      conv2d_im2col_backward_data(g, dy.data(), weight_.data(), dx.data(), im2col_ws_);
      break;
    default: conv2d_direct_backward_data(g, dy.data(), weight_.data(), dx.data()); break;
  }
  return dx;
}

}  // namespace minicnn
