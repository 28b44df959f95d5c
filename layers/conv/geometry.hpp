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

// The geometry of a 2-D convolution: x (N,C,H,W), w (K,C/groups,KH,KW), y (N,K,OH,OW).
// With groups G the channels split into G groups, input channels [gC/G, (g+1)C/G)
// feeding output channels [gK/G, (g+1)K/G) only, as PyTorch's `groups`; G = C is a
// depthwise convolution.
struct ConvGeom {
  std::size_t N = 1, C = 1, H = 1, W = 1, K = 1, KH = 1, KW = 1;
  std::size_t stride = 1, padding = 0, dilation = 1;
  std::size_t OH = 1, OW = 1;
  std::size_t groups = 1;

  // Validates every size and computes OH, OW; throws Error naming `who`.
  static ConvGeom make(std::size_t N, std::size_t C, std::size_t H, std::size_t W,
                       std::size_t K, std::size_t KH, std::size_t KW, std::size_t stride = 1,
                       std::size_t padding = 0, std::size_t dilation = 1,
                       const std::string& who = "conv");
  // This geometry with G groups; throws Error naming `who` unless G divides C and K.
  ConvGeom grouped(std::size_t G, const std::string& who = "conv") const;

  std::size_t group_in() const { return C / groups; }   // input channels of a group
  std::size_t group_out() const { return K / groups; }  // output channels of a group
  // One group's convolution: C/G → K/G channels, the rest unchanged.
  ConvGeom group() const;
  // A row of the weight, and of one group's unfolded input: (C/G)·KH·KW.
  std::size_t col_rows() const { return group_in() * KH * KW; }
  std::size_t weight_numel() const { return K * col_rows(); }
  std::size_t out_plane() const { return OH * OW; }
  std::size_t in_plane() const { return H * W; }
  // Multiply-adds ×2 of one pass: 2·N·K·(C/G)·KH·KW·OH·OW.
  double flops() const;

  // Plans are cached by the whole geometry.
  auto operator<=>(const ConvGeom&) const = default;
};

enum class ConvAlgo { Auto, Direct, Im2colGemm, FFT, Winograd, Depthwise };
// The three passes of a convolution: y from x, dL/dx from dL/dy, dL/dW (and dL/db).
enum class ConvPass { Forward, BackwardData, BackwardWeights };

// "auto", "direct", "im2col", "fft", "winograd", "depthwise"
std::string to_string(ConvAlgo a);
std::string to_string(ConvPass p);  // "forward", "backward-data", "backward-weights"
// Parses the names to_string gives; throws Error on anything else.
ConvAlgo parse_conv_algo(const std::string& s);

}  // namespace minicnn
