// What every convolution algorithm, the Conv2D layer and Auto selection share: the
// geometry of a convolution, the output size along one axis, and the names of the
// algorithms and passes.
#pragma once

#include <compare>
#include <cstddef>
#include <string>

namespace minicnn {

// Output size of a convolution along one axis; throws Error (naming `who`) when the
// kernel, dilated, is larger than the padded input or a size is zero.
std::size_t conv_out_size(std::size_t in, std::size_t kernel, std::size_t stride,
                          std::size_t padding, std::size_t dilation,
                          const std::string& who = "conv");

// The geometry of a 2-D convolution: x (N,C,H,W), w (K,C,KH,KW), y (N,K,OH,OW).
struct ConvGeom {
  std::size_t N = 1, C = 1, H = 1, W = 1, K = 1, KH = 1, KW = 1;
  std::size_t stride = 1, padding = 0, dilation = 1;
  std::size_t OH = 1, OW = 1;

  // Validates every size and computes OH, OW; throws Error naming `who`.
  static ConvGeom make(std::size_t N, std::size_t C, std::size_t H, std::size_t W,
                       std::size_t K, std::size_t KH, std::size_t KW, std::size_t stride = 1,
                       std::size_t padding = 0, std::size_t dilation = 1,
                       const std::string& who = "conv");

  std::size_t col_rows() const { return C * KH * KW; }
  std::size_t out_plane() const { return OH * OW; }
  std::size_t in_plane() const { return H * W; }
  // Multiply-adds ×2 of one pass: 2·N·K·C·KH·KW·OH·OW.
  double flops() const;

  // Plans are cached by the whole geometry.
  auto operator<=>(const ConvGeom&) const = default;
};

enum class ConvAlgo { Auto, Direct, Im2colGemm, FFT, Winograd };
// The three passes of a convolution: y from x, dL/dx from dL/dy, dL/dW (and dL/db).
enum class ConvPass { Forward, BackwardData, BackwardWeights };

std::string to_string(ConvAlgo a);  // "auto", "direct", "im2col", "fft", "winograd"
std::string to_string(ConvPass p);  // "forward", "backward-data", "backward-weights"
// Parses the names to_string gives; throws Error on anything else.
ConvAlgo parse_conv_algo(const std::string& s);

}  // namespace minicnn
