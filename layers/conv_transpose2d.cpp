#include "conv_transpose2d.hpp"

#include <algorithm>
#include <sstream>

#include "../core/blas.hpp"
#include "../core/ops.hpp"
#include "../core/random.hpp"

namespace minicnn {
namespace {

// The Conv2D pass that each of this layer's passes (forward, backward-data,
// backward-weights) runs.
constexpr ConvPass kConvPass[3] = {ConvPass::BackwardData, ConvPass::Forward,
                                   ConvPass::BackwardWeights};

}  // namespace

ConvTranspose2D::ConvTranspose2D(std::size_t in_channels, std::size_t out_channels,
                                 Kernel2D kernel, ConvTranspose2DOptions opt)
    : in_(in_channels), out_(out_channels), kernel_(kernel), opt_(opt) {
  const std::string who = "ConvTranspose2D";
  check_arg(in_ > 0, who, "in_channels", "> 0", std::to_string(in_));
  check_arg(out_ > 0, who, "out_channels", "> 0", std::to_string(out_));
  check_arg(kernel_.h > 0 && kernel_.w > 0, who, "kernel", "> 0 in both sizes",
            std::to_string(kernel_.h) + "x" + std::to_string(kernel_.w));
  check_arg(opt_.stride > 0, who, "stride", "> 0", std::to_string(opt_.stride));
  check_arg(opt_.dilation > 0, who, "dilation", "> 0", std::to_string(opt_.dilation));
  check_arg(opt_.output_padding < opt_.stride, who, "output_padding",
            "< stride = " + std::to_string(opt_.stride), std::to_string(opt_.output_padding));
  check_arg(opt_.workspace_limit > 0, who, "workspace_limit", "> 0", "0");
  set_algo(opt_.algo);
  ws_.im2col.limit_bytes = opt_.workspace_limit;
  ws_.winograd.limit_bytes = opt_.workspace_limit;
  weight_ = zeros({in_, out_, kernel_.h, kernel_.w}, who);
  // Each output sums about in·KH·KW / stride² products: He-normal for that fan-in.
  const std::size_t taps = in_ * kernel_.h * kernel_.w / (opt_.stride * opt_.stride);
  he_normal(weight_, std::max<std::size_t>(taps, 1));
  dweight_ = zeros(shape_of(weight_), who);
  if (opt_.bias) {
    bias_ = zeros({out_});
    dbias_ = zeros({out_});
  }
}

void ConvTranspose2D::set_algo(ConvAlgo a) {
  if (a == ConvAlgo::FFT && (opt_.stride != 1 || opt_.dilation != 1)) {
    throw Error(name() + ": the FFT algorithm needs stride 1 and dilation 1, got stride " +
                std::to_string(opt_.stride) + " and dilation " + std::to_string(opt_.dilation));
  }
  if (a == ConvAlgo::Winograd &&
      (kernel_.h != 3 || kernel_.w != 3 || opt_.stride != 1 || opt_.dilation != 1)) {
    throw Error(name() + ": the Winograd algorithm needs a 3x3 kernel, stride 1 and dilation 1");
  }
  opt_.algo = a;
  plans_.clear();
  forget_saved("set_algo");
}

ConvGeom ConvTranspose2D::geometry(const Shape& x) const {
  if (x.size() != 4 || x[1] != in_ || x[0] == 0 || x[2] == 0 || x[3] == 0) {
    throw Error(name() + ": expected input (N, " + std::to_string(in_) +
                ", H, W) with N, H, W > 0, got " + to_string(x));
  }
  // Each term checked to stay within kMaxElements (2^40), so that the signed sum
  // cannot overflow; padding may eat more than the rest gives.
  check_arg(opt_.padding <= kMaxElements, name(), "padding", "<= 2^40",
            std::to_string(opt_.padding));
  check_arg(opt_.output_padding <= kMaxElements, name(), "output_padding", "<= 2^40",
            std::to_string(opt_.output_padding));
  const auto out_size = [&](std::size_t in, std::size_t k) -> long long {
    const std::size_t up = checked_mul(in - 1, opt_.stride, name(), "the upsampled input");
    const std::size_t span = checked_mul(opt_.dilation, k - 1, name(), "the dilated kernel");
    return static_cast<long long>(up) + static_cast<long long>(span) +
           static_cast<long long>(opt_.output_padding) + 1 -
           2 * static_cast<long long>(opt_.padding);
  };
  const long long oh = out_size(x[2], kernel_.h), ow = out_size(x[3], kernel_.w);
  if (oh < 1 || ow < 1) {
    throw Error(name() + ": input " + to_string(x) + " gives an output of " +
                std::to_string(oh) + "x" + std::to_string(ow) + ", less than 1x1");
  }
  const ConvGeom g = ConvGeom::make(x[0], out_, std::size_t(oh), std::size_t(ow), in_,
                                    kernel_.h, kernel_.w, opt_.stride, opt_.padding,
                                    opt_.dilation, name());
  if (g.OH != x[2] || g.OW != x[3]) {  // output_padding < stride makes this impossible
    throw Error(name() + ": the output " + std::to_string(oh) + "x" + std::to_string(ow) +
                " does not map back to the input " + to_string(x));
  }
  return g;
}

Shape ConvTranspose2D::output_shape(const Shape& x) const {
  const ConvGeom g = geometry(x);
  return {g.N, g.C, g.H, g.W};
}

double ConvTranspose2D::flops(const Shape& x) const {
  const ConvGeom g = geometry(x);
  return g.flops() + (opt_.bias ? double(g.N * g.C * g.H * g.W) : 0.0);
}

ConvPlan ConvTranspose2D::plan(const Shape& x) const {
  const ConvGeom g = geometry(x);
  const int T = num_threads();
  auto it = plans_.find({g, T});
  if (it != plans_.end()) return it->second;
  ConvPlan p;
  for (int i = 0; i < 3; ++i)
    p[i] = conv_choose(opt_.algo, g, kConvPass[i], T, opt_.workspace_limit, opt_.autotune);
  plans_.emplace(std::pair{g, T}, p);
  return p;
}

std::string ConvTranspose2D::name() const {
  std::ostringstream s;
  s << "ConvTranspose2D(" << in_ << "->" << out_ << ", " << kernel_.h << "x" << kernel_.w;
  if (opt_.stride != 1) s << ", stride " << opt_.stride;
  if (opt_.padding != 0) s << ", padding " << opt_.padding;
  if (opt_.output_padding != 0) s << ", output_padding " << opt_.output_padding;
  if (opt_.dilation != 1) s << ", dilation " << opt_.dilation;
  if (!opt_.bias) s << ", no bias";
  s << ", " << to_string(opt_.algo) << ")";
  return s.str();
}

std::string ConvTranspose2D::name_for(const Shape& x) const {
  std::string s = name();
  if (opt_.algo != ConvAlgo::Auto) return s;
  const ConvPlan p = plan(x);
  s.pop_back();
  return s + ": " + to_string(p[0].algo) + "/" + to_string(p[1].algo) + "/" +
         to_string(p[2].algo) + ")";
}

void ConvTranspose2D::check_parameters() const {
  const Shape w = {in_, out_, kernel_.h, kernel_.w};
  check_shape(shape_of(weight_), w, name(), "weight");
  check_shape(shape_of(dweight_), w, name(), "weight gradient");
  if (opt_.bias) {
    check_shape(shape_of(bias_), {out_}, name(), "bias");
    check_shape(shape_of(dbias_), {out_}, name(), "bias gradient");
  }
}

std::vector<Parameter> ConvTranspose2D::parameters() {
  std::vector<Parameter> p{{"weight", &weight_, &dweight_}};
  if (opt_.bias) p.push_back({"bias", &bias_, &dbias_});
  return p;
}

Tensor ConvTranspose2D::forward_impl(const Tensor& x) {
  const ConvGeom g = geometry(shape_of(x));
  check_parameters();
  const ConvPlan p = plan(shape_of(x));
  Tensor y = Tensor::from_shape({g.N, g.C, g.H, g.W});
  // A new step: the weights may have changed in place since the last one. (Conv2D's FFT
  // forward transforms everything anew by itself; its backward-data, which runs here,
  // reuses what it finds.)
  ws_.fft.forget();
  ConvTensors t;
  if (training_) {
    keep(saved().x, x);
    t.dy = saved().x.data();
  } else {
    t.dy = x.data();
  }
  t.w = weight_.data();
  t.dx = y.data();
  conv2d_run(p[0].algo, kConvPass[0], g, t, ws_, name());
  if (opt_.bias) add_bias(y.data(), bias_.data(), g.N, g.C, g.H * g.W);
  return y;
}

void ConvTranspose2D::backward_impl(const Tensor& dy, Tensor* dx) {
  const Tensor& x = saved().x;
  const ConvGeom g = geometry(shape_of(x));
  check_parameters();
  const ConvPlan p = plan(shape_of(x));
  ws_.fft.forget(dy.data());  // a new dy, maybe where an earlier one was
  ConvTensors t;
  t.x = dy.data();  // the convolution's input is this layer's output
  t.dy = x.data();  // and its output gradient this layer's input
  t.w = weight_.data();
  t.dw = dweight_.data();
  conv2d_run(p[2].algo, kConvPass[2], g, t, ws_, name());
  if (opt_.bias) add_bias_grad(dy.data(), dbias_.data(), g.N, g.C, g.H * g.W);
  if (!dx) return;
  t.y = dx->data();
  conv2d_run(p[1].algo, kConvPass[1], g, t, ws_, name());
}

}  // namespace minicnn
