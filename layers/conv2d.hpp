// Conv2D: a 2-D convolution layer (cross-correlation, as in every CNN framework).
//
//   x (N, C, H, W) -> y (N, K, OH, OW),   OH = (H + 2·padding − dilation·(KH − 1) − 1) / stride + 1
//   weight (K, C, KH, KW), bias (K): PyTorch's layouts and names; He-normal weights,
//   zero bias.
//   y[n,k] = b[k] + Σ_c w[k,c] ⋆ x[n,c]
//
// Options (Conv2DOptions, designated initialisers): stride = 1, padding = 0,
// dilation = 1, bias = true, algo = Auto, autotune = false (or MINICNN_CONV_AUTOTUNE=1),
// workspace_limit = 64 MiB for im2col's and Winograd's scratch.
//
//   Conv2D conv(1, 20, 5);                                   // 5x5 kernel
//   Conv2D conv(3, 64, {7, 5}, {.stride = 2, .padding = 3, .algo = ConvAlgo::Im2colGemm});
//
// The layer owns the parameters, their gradients and the workspaces; the arithmetic is
// in the plain functions of layers/conv/. With algo = Auto each pass (forward,
// backward-data, backward-weights) takes its own algorithm, chosen per input shape;
// plan() tells which, with its time and workspace.
#pragma once

#include <array>
#include <cstddef>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "conv/dispatch.hpp"
#include "conv/select.hpp"
#include "layer.hpp"

namespace minicnn {

struct Kernel2D {
  std::size_t h, w;
  Kernel2D(std::size_t k) : h(k), w(k) {}  // NOLINT: a square kernel from one size
  Kernel2D(std::size_t kh, std::size_t kw) : h(kh), w(kw) {}
};

struct Conv2DOptions {
  std::size_t stride = 1, padding = 0, dilation = 1;
  bool bias = true;
  ConvAlgo algo = ConvAlgo::Auto;
  bool autotune = false;
  std::size_t workspace_limit = Im2colWorkspace::kDefaultLimit;
};

// Per pass: forward, backward-data, backward-weights.
using ConvPlan = std::array<ConvChoice, 3>;

class Conv2D : public Layer {
 public:
  Conv2D(std::size_t in_channels, std::size_t out_channels, Kernel2D kernel,
         Conv2DOptions opt = {});

  std::vector<Parameter> parameters() override;
  Shape output_shape(const Shape& x) const override;
  // "Conv2D(20->50, 5x5, auto)"
  std::string name() const override;
  // name() with the algorithm of each pass for input x: "Conv2D(20->50, 5x5, auto:
  // fft/fft/fft)" (forward/backward-data/backward-weights).
  std::string name_for(const Shape& x) const override;
  double flops(const Shape& x) const override;

  Tensor& weight() { return weight_; }
  Tensor& bias() { return bias_; }
  Tensor& weight_grad() { return dweight_; }
  Tensor& bias_grad() { return dbias_; }
  const Conv2DOptions& options() const { return opt_; }
  // Another algorithm from now on; a backward before the next forward throws.
  void set_algo(ConvAlgo a);

  // Which algorithm each pass runs for an input of shape x, its measured or estimated
  // time in seconds, and its workspace in bytes; cached per geometry and thread count.
  ConvPlan plan(const Shape& x) const;
  // The geometry for an input of shape x; throws Error naming the layer on a bad shape.
  ConvGeom geometry(const Shape& x) const;

 protected:
  // Keeps x in saved().x (forward runs on that copy, so that FFT's backward-weights
  // finds the spectrum forward made of it) and the weights in saved().aux.
  Tensor forward_impl(const Tensor& x) override;
  // y = W ⋆ x + b  ⇒  dW += dy ⋆ x,  db += Σ dy,  dx = the adjoint of ⋆ applied to dy
  void backward_impl(const Tensor& dy, Tensor* dx) override;

 private:
  // Throws Error naming the layer and both shapes when a parameter or gradient tensor
  // was replaced by one of another shape (weight() and the others are references).
  void check_parameters() const;

  std::size_t in_, out_;
  Kernel2D kernel_;
  Conv2DOptions opt_;
  Tensor weight_, bias_, dweight_, dbias_;
  ConvWorkspace ws_;
  mutable std::map<std::pair<ConvGeom, int>, ConvPlan> plans_;  // by geometry and threads
};

}  // namespace minicnn
