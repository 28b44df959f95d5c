// Conv2D: a 2-D convolution layer (cross-correlation, as in every CNN framework).
//
//   x (N, C, H, W) -> y (N, K, OH, OW),   OH = (H + 2·padding − dilation·(KH − 1) − 1) / stride + 1
//   weight (K, C/groups, KH, KW), bias (K): PyTorch's layouts and names; He-normal
//   weights, zero bias.
//   y[n,k] = b[k] + Σ_j w[k,j] ⋆ x[n, c0(k) + j]   over the C/groups channels of k's group
//
// Options (Conv2DOptions, designated initialisers): stride = 1, padding = 0,
// dilation = 1, groups = 1, bias = true, algo = Auto, autotune = false (or
// MINICNN_CONV_AUTOTUNE=1), workspace_limit = 64 MiB for im2col's and Winograd's scratch.
//
//   Conv2D conv(1, 20, 5);                                   // 5x5 kernel
//   Conv2D conv(3, 64, {7, 5}, {.stride = 2, .padding = 3, .algo = ConvAlgo::Im2colGemm});
//   Conv2D dw(64, 64, 3, {.padding = 1, .groups = 64});      // depthwise 3x3
//
// Groups run by im2col (one GEMM per group), the direct loops and, with one input
// channel per group (depthwise, groups = C), by the depthwise loops, which Auto takes;
// FFT and Winograd need groups = 1.
//
// The layer owns the parameters, their gradients and the workspaces; the arithmetic is
// in the plain functions of layers/conv/. With algo = Auto each pass (forward,
// backward-data, backward-weights) takes its own algorithm, chosen per input shape;
// plan() tells which, with its time and workspace.
#pragma once

#include <cstddef>
#include <string>

#include "conv_layer.hpp"

namespace minicnn {

class Conv2D : public ConvLayer {
 public:
  Conv2D(std::size_t in_channels, std::size_t out_channels, Kernel2D kernel,
         Conv2DOptions opt = {});

  Shape output_shape(const Shape& x) const override;
  ConvGeom geometry(const Shape& x) const override;
  const Conv2DOptions& options() const { return s_; }

 protected:
  // Keeps x in saved().x (forward runs on that copy, so that FFT's backward-weights
  // finds the spectrum forward made of it) and the weights in saved().aux.
  Tensor forward_impl(const Tensor& x) override;
  // y = W ⋆ x + b  ⇒  dW += dy ⋆ x,  db += Σ dy,  dx = the adjoint of ⋆ applied to dy
  void backward_impl(const Tensor& dy, Tensor* dx) override;
};

}  // namespace minicnn
