// ConvTranspose2D: the transposed convolution (PyTorch's ConvTranspose2d), the adjoint
// of Conv2D's map from input to output, as decoders use to upsample.
//
//   x (N, C_in, H, W) -> y (N, C_out, OH, OW),
//   OH = (H − 1)·stride − 2·padding + dilation·(KH − 1) + output_padding + 1, likewise OW
//   weight (C_in, C_out/groups, KH, KW), bias (C_out): PyTorch's layouts and names.
//
// It is the Conv2D c of geometry (input C_out × OH × OW, output C_in × H × W) run
// backwards, with the same weight tensor:
//   forward           y  = c.backward_data(x) + b
//   backward-data     dx = c.forward(dy)                  (no bias)
//   backward-weights  dW += c.backward_weights(input dy, output gradient x),  db += Σ dy
// so every conv algorithm (direct, im2col, FFT, and Auto's choice per pass) serves it
// through conv2d_run, with no kernel of its own.
//
// Options (ConvTranspose2DOptions): stride = 1, padding = 0, output_padding = 0 (less
// than the stride: it picks one of the stride's output sizes), dilation = 1, groups = 1
// (as Conv2D's: the transposed convolution of a grouped one), bias = true, algo = Auto,
// autotune = false, workspace_limit = 64 MiB.
#pragma once

#include <cstddef>
#include <string>

#include "conv_layer.hpp"

namespace minicnn {

struct ConvTranspose2DOptions {
  std::size_t stride = 1, padding = 0, output_padding = 0, dilation = 1, groups = 1;
  bool bias = true;
  ConvAlgo algo = ConvAlgo::Auto;
  bool autotune = false;
  std::size_t workspace_limit = Im2colWorkspace::kDefaultLimit;
};

class ConvTranspose2D : public ConvLayer {
 public:
  ConvTranspose2D(std::size_t in_channels, std::size_t out_channels, Kernel2D kernel,
                  ConvTranspose2DOptions opt = {});

  // Throws Error naming the layer and the sizes when the output would be empty.
  Shape output_shape(const Shape& x) const override;
  // The geometry of the convolution this layer transposes, for input x; its plan() has,
  // per pass of this layer, the algorithm chosen for the Conv2D pass it runs.
  ConvGeom geometry(const Shape& x) const override;
  ConvTranspose2DOptions options() const;

 protected:
  Tensor forward_impl(const Tensor& x) override;
  // y = Cᵀ x + b  ⇒  dx = C dy,  dW += (the weight gradient of C with input dy and
  // output gradient x),  db += Σ dy
  void backward_impl(const Tensor& dy, Tensor* dx) override;
  std::string name_extra() const override;

 private:
  std::size_t output_padding_;
};

}  // namespace minicnn
