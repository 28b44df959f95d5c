// Pooling: MaxPool2D, AvgPool2D and GlobalAvgPool2D over NCHW images.
//
//   MaxPool2D(kernel, {.stride, .padding})   x (N,C,H,W) -> y (N,C,OH,OW)
//       y = the largest x in each kernel×kernel window. The layer remembers where each
//       maximum came from (its argmax) and backward routes dy there alone. A tie goes
//       to the first of the window in row-major order; padding counts as −inf, so it is
//       never the maximum. A NaN in a window wins it, as in PyTorch.
//   AvgPool2D(kernel, {.stride, .padding})   x (N,C,H,W) -> y (N,C,OH,OW)
//       y = (sum of each window) / (kernel·kernel). Padding cells count as zeros and
//       stay in the divisor: PyTorch's count_include_pad=True, its default.
//   GlobalAvgPool2D()                         x (N,C,H,W) -> y (N,C,1,1), mean of each plane.
//
// Windows are square. PoolOptions: stride defaults to the kernel (windows side by side),
// padding to 0, and padding may be at most kernel / 2, so that every window holds at
// least one input cell. OH = conv_out_size(H, kernel, stride, padding, 1), likewise OW;
// a window that does not fit the padded input is dropped (floor, no ceil mode).
//
//   MaxPool2D pool(2);                               // 2×2 windows, stride 2
//   MaxPool2D pool(3, {.stride = 2, .padding = 1});  // overlapping 3×3 windows
//
// No parameters.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "layer.hpp"

namespace minicnn {

struct PoolOptions {
  std::optional<std::size_t> stride = std::nullopt;  // defaults to the kernel size
  std::size_t padding = 0;                           // at most kernel / 2
};

// The window geometry that MaxPool2D and AvgPool2D share.
class Pool2D : public Layer {
 public:
  // (N, C, H, W) -> (N, C, OH, OW); throws Error on another rank or a window that does
  // not fit.
  Shape output_shape(const Shape& x) const override;
  std::string name() const override;
  // One operation per window cell: N·C·OH·OW·kernel².
  double flops(const Shape& x) const override;

  std::size_t kernel() const { return kernel_; }
  std::size_t stride() const { return stride_; }
  std::size_t padding() const { return padding_; }

 protected:
  // Validates kernel > 0, stride > 0, padding <= kernel / 2; throws Error naming `kind`.
  Pool2D(const char* kind, std::size_t kernel, const PoolOptions& opt);

  const char* kind_;
  std::size_t kernel_, stride_, padding_;
};

class MaxPool2D : public Pool2D {
 public:
  explicit MaxPool2D(std::size_t kernel, const PoolOptions& opt = {});

 protected:
  // Keeps in saved().index, for every output cell, the index of its maximum within its
  // input plane (h·W + w): 32 bits halve the traffic of 64-bit flat indices, and let the
  // 2×2 case vectorise.
  Tensor forward_impl(const Tensor& x) override;
  // y[o] = x[argmax(o)]  ⇒  dx[argmax(o)] += dy[o], zero elsewhere
  void backward_impl(const Tensor& dy, Tensor* dx) override;
};

class AvgPool2D : public Pool2D {
 public:
  explicit AvgPool2D(std::size_t kernel, const PoolOptions& opt = {});

 protected:
  Tensor forward_impl(const Tensor& x) override;
  // y[o] = Σ_window x / kernel²  ⇒  dx[i] = Σ over windows o holding i of dy[o] / kernel²
  void backward_impl(const Tensor& dy, Tensor* dx) override;
};

class GlobalAvgPool2D : public Layer {
 public:
  // (N, C, H, W) -> (N, C, 1, 1); throws Error on another rank or an empty plane.
  Shape output_shape(const Shape& x) const override;
  std::string name() const override { return "GlobalAvgPool2D"; }
  double flops(const Shape& x) const override;

 protected:
  Tensor forward_impl(const Tensor& x) override;
  // y[n,c] = Σ_hw x[n,c,h,w] / (H·W)  ⇒  dx[n,c,h,w] = dy[n,c] / (H·W)
  void backward_impl(const Tensor& dy, Tensor* dx) override;
};

}  // namespace minicnn
