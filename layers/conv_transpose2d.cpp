#include "conv_transpose2d.hpp"

#include <algorithm>
#include <array>

#include "../core/ops.hpp"

namespace minicnn {
namespace {

// The Conv2D pass that each of this layer's passes (forward, backward-data,
// backward-weights) runs.
constexpr std::array<ConvPass, 3> kConvPass = {ConvPass::BackwardData, ConvPass::Forward,
                                   ConvPass::BackwardWeights};

}  // namespace

ConvTranspose2D::ConvTranspose2D(std::size_t in_channels, std::size_t out_channels,
                                 Kernel2D kernel, ConvTranspose2DOptions opt)
    : ConvLayer("ConvTranspose2D", in_channels, out_channels, kernel,
                {.stride = opt.stride, .padding = opt.padding, .dilation = opt.dilation,
                 .groups = opt.groups, .bias = opt.bias, .algo = opt.algo,
                 .autotune = opt.autotune, .workspace_limit = opt.workspace_limit},
                {in_channels, per_group(out_channels, opt.groups), kernel.h, kernel.w},
                // Each output sums about (in/groups)·KH·KW / stride² products: He-normal
                // for that.
                std::max<std::size_t>(per_group(in_channels, opt.groups) * kernel.h * kernel.w /
                                          std::max<std::size_t>(opt.stride * opt.stride, 1),
                                      1),
                kConvPass),
      output_padding_(opt.output_padding) {
  check_arg(output_padding_ < s_.stride, "ConvTranspose2D", "output_padding",
            "< stride = " + std::to_string(s_.stride), std::to_string(output_padding_));
  set_algo(s_.algo);
}

ConvTranspose2DOptions ConvTranspose2D::options() const {
  return {.stride = s_.stride, .padding = s_.padding, .output_padding = output_padding_,
          .dilation = s_.dilation, .groups = s_.groups, .bias = s_.bias, .algo = s_.algo,
          .autotune = s_.autotune, .workspace_limit = s_.workspace_limit};
}

std::string ConvTranspose2D::name_extra() const {
  return output_padding_ ? ", output_padding " + std::to_string(output_padding_) : "";
}

ConvGeom ConvTranspose2D::geometry(const Shape& x) const {
  if (x.size() != 4 || x[1] != in_ || x[0] == 0 || x[2] == 0 || x[3] == 0) {
    throw Error(name() + ": expected input (N, " + std::to_string(in_) +
                ", H, W) with N, H, W > 0, got " + to_string(x));
  }
  // Each term checked to stay within kMaxElements (2^40), so that the signed sum
  // cannot overflow; padding may eat more than the rest gives.
  check_arg(s_.padding <= kMaxElements, name(), "padding", "<= 2^40",
            std::to_string(s_.padding));
  check_arg(output_padding_ <= kMaxElements, name(), "output_padding", "<= 2^40",
            std::to_string(output_padding_));
  const auto out_size = [&](std::size_t in, std::size_t k) -> long long {
    const std::size_t up = checked_mul(in - 1, s_.stride, name(), "the upsampled input");
    const std::size_t span = checked_mul(s_.dilation, k - 1, name(), "the dilated kernel");
    return static_cast<long long>(up) + static_cast<long long>(span) +
           static_cast<long long>(output_padding_) + 1 -
           2 * static_cast<long long>(s_.padding);
  };
  const long long oh = out_size(x[2], kernel_.h), ow = out_size(x[3], kernel_.w);
  if (oh < 1 || ow < 1) {
    throw Error(name() + ": input " + to_string(x) + " gives an output of " +
                std::to_string(oh) + "x" + std::to_string(ow) + ", less than 1x1");
  }
  const ConvGeom g = ConvGeom::make(x[0], out_, std::size_t(oh), std::size_t(ow), in_,
                                    kernel_.h, kernel_.w, s_.stride, s_.padding,
                                    s_.dilation, name())
                          .grouped(s_.groups, name());
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

Tensor ConvTranspose2D::forward_impl(const Tensor& x) {
  const ConvGeom g = geometry(shape_of(x));
  check_parameters();
  const ConvPlan p = plan(shape_of(x));
  Workspace lease(*this);
  ConvWorkspace& ws = lease.get();
  Tensor y = Tensor::from_shape({g.N, g.C, g.H, g.W});
  // A new step: the weights may have changed in place since the last one. (Conv2D's FFT
  // forward transforms everything anew by itself; its backward-data, which runs here,
  // reuses what it finds.)
  ws.fft.forget();
  ConvTensors t;
  if (training_) {
    keep(saved().x, x);
    t.dy = saved().x.data();
  } else {
    t.dy = x.data();
  }
  t.w = weight_.data();
  t.dx = y.data();
  run(0, g, t, p, ws);
  if (s_.bias) add_bias(y.data(), bias_.data(), g.N, g.C, g.H * g.W);
  return y;
}

void ConvTranspose2D::backward_impl(const Tensor& dy, Tensor* dx) {
  const Tensor& x = saved().x;
  const ConvGeom g = geometry(shape_of(x));
  check_parameters();
  const ConvPlan p = plan(shape_of(x));
  Workspace lease(*this);
  ConvWorkspace& ws = lease.get();
  ws.fft.forget(dy.data());  // a new dy, maybe where an earlier one was
  ConvTensors t;
  t.x = dy.data();  // the convolution's input is this layer's output
  t.dy = x.data();  // and its output gradient this layer's input
  t.w = weight_.data();
  t.dw = dweight_.data();
  run(2, g, t, p, ws);
  if (s_.bias) add_bias_grad(dy.data(), dbias_.data(), g.N, g.C, g.H * g.W);
  if (!dx) return;
  t.y = dx->data();
  run(1, g, t, p, ws);
}

}  // namespace minicnn
