#include "conv2d.hpp"

#include <algorithm>

namespace minicnn {

Conv2D::Conv2D(std::size_t in_channels, std::size_t out_channels, Kernel2D kernel,
               Conv2DOptions opt)
    : ConvLayer("Conv2D", in_channels, out_channels, kernel, opt,
                {out_channels, per_group(in_channels, opt.groups), kernel.h, kernel.w},
                /*fan_in=*/per_group(in_channels, opt.groups) * kernel.h * kernel.w,
                {ConvPass::Forward, ConvPass::BackwardData, ConvPass::BackwardWeights}) {
  set_algo(s_.algo);
}

ConvGeom Conv2D::geometry(const Shape& x) const {
  if (x.size() != 4 || x[1] != in_) {
    throw Error(name() + ": expected input (N, " + std::to_string(in_) + ", H, W), got " +
                to_string(x));
  }
  return ConvGeom::make(x[0], x[1], x[2], x[3], out_, kernel_.h, kernel_.w, s_.stride,
                        s_.padding, s_.dilation, name())
      .grouped(s_.groups, name());
}

Shape Conv2D::output_shape(const Shape& x) const {
  const ConvGeom g = geometry(x);
  return {g.N, g.K, g.OH, g.OW};
}

Tensor Conv2D::forward_impl(const Tensor& x) {
  const ConvGeom g = geometry(shape_of(x));
  check_parameters();
  const ConvPlan p = plan(shape_of(x));
  Workspace lease(*this);
  ConvWorkspace& ws = lease.get();
  Tensor y = Tensor::from_shape({g.N, g.K, g.OH, g.OW});
  // A new step: the FFT spectra of the last one may be of weights changed in place since
  // (an FFT forward transforms anew by itself, but when forward runs another algorithm
  // an FFT backward pass would otherwise reuse them).
  ws.fft.forget();
  ConvTensors t;
  if (training_) {
    keep(saved().x, x);
    // To tell whether the weights change before an FFT backward pass, which would reuse
    // their spectrum (no copy for a plan without one: 100 KB a step on LeNet's conv2).
    if (p[1].algo == ConvAlgo::FFT || p[2].algo == ConvAlgo::FFT)
      keep(saved().aux, weight_);
    else if (saved().aux.dimension() != 0)  // drop a copy an earlier plan kept
      saved().aux = Tensor();
    t.x = saved().x.data();
  } else {
    t.x = x.data();
  }
  t.w = weight_.data();
  t.b = s_.bias ? bias_.data() : nullptr;
  t.y = y.data();
  run(0, g, t, p, ws);
  return y;
}

void Conv2D::backward_impl(const Tensor& dy, Tensor* dx) {
  const Tensor& x = saved().x;
  const ConvGeom g = geometry(shape_of(x));
  check_parameters();
  const ConvPlan p = plan(shape_of(x));
  Workspace lease(*this);
  ConvWorkspace& ws = lease.get();
  ws.fft.forget(dy.data());  // a new dy, maybe where an earlier one was
  // Weights changed since forward (an optimiser stepped, a user wrote them): backward
  // uses them as they are now, whatever the algorithm.
  // (No copy kept: the plan had no FFT backward pass then; forget whatever it has now.)
  const Tensor& w0 = saved().aux;
  if (shape_of(w0) != shape_of(weight_) ||
      !std::equal(w0.data(), w0.data() + w0.size(), weight_.data()))
    ws.fft.forget(weight_.data());
  ConvTensors t;
  t.x = x.data();
  t.w = weight_.data();
  t.dy = dy.data();
  t.dw = dweight_.data();
  t.db = s_.bias ? dbias_.data() : nullptr;
  run(2, g, t, p, ws);
  if (!dx) return;
  t.dx = dx->data();
  run(1, g, t, p, ws);
}

}  // namespace minicnn
