#include "conv2d.hpp"

#include <algorithm>
#include <sstream>

#include "../core/blas.hpp"
#include "../core/random.hpp"

namespace minicnn {

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
  ws_.im2col.limit_bytes = opt_.workspace_limit;
  ws_.winograd.limit_bytes = opt_.workspace_limit;
  weight_ = zeros({out_, in_, kernel_.h, kernel_.w}, who);
  he_normal(weight_, in_ * kernel_.h * kernel_.w);
  dweight_ = zeros(shape_of(weight_), who);
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
  if (a == ConvAlgo::Winograd &&
      (kernel_.h != 3 || kernel_.w != 3 || opt_.stride != 1 || opt_.dilation != 1)) {
    throw Error(name() + ": the Winograd algorithm needs a 3x3 kernel, stride 1 and dilation 1, got " +
                std::to_string(kernel_.h) + "x" + std::to_string(kernel_.w) + ", stride " +
                std::to_string(opt_.stride) + " and dilation " + std::to_string(opt_.dilation));
  }
  opt_.algo = a;
  plans_.clear();
  forget_saved("set_algo");
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
  return {g.N, g.K, g.OH, g.OW};
}

double Conv2D::flops(const Shape& x) const {
  const ConvGeom g = geometry(x);
  return g.flops() + (opt_.bias ? double(g.N * g.K * g.OH * g.OW) : 0.0);
}

ConvPlan Conv2D::plan(const Shape& x) const {
  const ConvGeom g = geometry(x);
  const int T = num_threads();
  auto it = plans_.find({g, T});
  if (it != plans_.end()) return it->second;
  ConvPlan p;
  const ConvPass passes[3] = {ConvPass::Forward, ConvPass::BackwardData,
                              ConvPass::BackwardWeights};
  for (int i = 0; i < 3; ++i)
    p[i] = conv_choose(opt_.algo, g, passes[i], T, opt_.workspace_limit, opt_.autotune);
  plans_.emplace(std::pair{g, T}, p);
  return p;
}

std::string Conv2D::name() const {
  std::ostringstream s;
  s << "Conv2D(" << in_ << "->" << out_ << ", " << kernel_.h << "x" << kernel_.w;
  if (opt_.stride != 1) s << ", stride " << opt_.stride;
  if (opt_.padding != 0) s << ", padding " << opt_.padding;
  if (opt_.dilation != 1) s << ", dilation " << opt_.dilation;
  if (!opt_.bias) s << ", no bias";
  s << ", " << to_string(opt_.algo) << ")";
  return s.str();
}

std::string Conv2D::name_for(const Shape& x) const {
  std::string s = name();
  if (opt_.algo != ConvAlgo::Auto) return s;
  const ConvPlan p = plan(x);
  s.pop_back();
  return s + ": " + to_string(p[0].algo) + "/" + to_string(p[1].algo) + "/" +
         to_string(p[2].algo) + ")";
}

void Conv2D::check_parameters() const {
  const Shape w = {out_, in_, kernel_.h, kernel_.w};
  check_shape(shape_of(weight_), w, name(), "weight");
  check_shape(shape_of(dweight_), w, name(), "weight gradient");
  if (opt_.bias) {
    check_shape(shape_of(bias_), {out_}, name(), "bias");
    check_shape(shape_of(dbias_), {out_}, name(), "bias gradient");
  }
}

std::vector<Parameter> Conv2D::parameters() {
  std::vector<Parameter> p{{"weight", &weight_, &dweight_}};
  if (opt_.bias) p.push_back({"bias", &bias_, &dbias_});
  return p;
}

Tensor Conv2D::forward_impl(const Tensor& x) {
  const ConvGeom g = geometry(shape_of(x));
  check_parameters();
  const ConvPlan p = plan(shape_of(x));
  Tensor y = Tensor::from_shape({g.N, g.K, g.OH, g.OW});
  ConvTensors t;
  if (training_) {
    keep(saved().x, x);
    keep(saved().aux, weight_);  // to tell whether the weights change before backward
    t.x = saved().x.data();
  } else {
    t.x = x.data();
  }
  t.w = weight_.data();
  t.b = opt_.bias ? bias_.data() : nullptr;
  t.y = y.data();
  conv2d_run(p[0].algo, ConvPass::Forward, g, t, ws_, name());
  return y;
}

void Conv2D::backward_impl(const Tensor& dy, Tensor* dx) {
  const Tensor& x = saved().x;
  const ConvGeom g = geometry(shape_of(x));
  check_parameters();
  const ConvPlan p = plan(shape_of(x));
  ws_.fft.forget(dy.data());  // a new dy, maybe where an earlier one was
  // Weights changed since forward (an optimiser stepped, a user wrote them): backward
  // uses them as they are now, whatever the algorithm.
  const Tensor& w0 = saved().aux;
  if (!std::equal(w0.data(), w0.data() + w0.size(), weight_.data())) ws_.fft.forget(weight_.data());
  ConvTensors t;
  t.x = x.data();
  t.w = weight_.data();
  t.dy = dy.data();
  t.dw = dweight_.data();
  t.db = opt_.bias ? dbias_.data() : nullptr;
  conv2d_run(p[2].algo, ConvPass::BackwardWeights, g, t, ws_, name());
  if (!dx) return;
  t.dx = dx->data();
  conv2d_run(p[1].algo, ConvPass::BackwardData, g, t, ws_, name());
}

}  // namespace minicnn
