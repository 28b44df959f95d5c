#include "geometry.hpp"

#include <limits>

#include "../../core/tensor.hpp"

namespace minicnn {

std::size_t conv_out_size(std::size_t in, std::size_t kernel, std::size_t stride,
                          std::size_t padding, std::size_t dilation, const std::string& who) {
  check_arg(in > 0, who, "input size", "> 0", std::to_string(in));
  check_arg(kernel > 0, who, "kernel size", "> 0", std::to_string(kernel));
  check_arg(stride > 0, who, "stride", "> 0", std::to_string(stride));
  check_arg(dilation > 0, who, "dilation", "> 0", std::to_string(dilation));
  // Overflow-safe: sizes come from users and files.
  constexpr std::size_t kMax = std::numeric_limits<std::size_t>::max() / 4;
  check_arg(in <= kMax && padding <= (kMax - in) / 2, who, "padding", "small enough to add to the input",
            std::to_string(padding));
  check_arg(kernel - 1 <= (kMax - 1) / dilation, who, "dilation·(kernel − 1)",
            "small enough to compute", std::to_string(dilation) + "·" + std::to_string(kernel - 1));
  const std::size_t span = dilation * (kernel - 1) + 1;
  const std::size_t padded = in + 2 * padding;
  if (span > padded) {
    throw Error(who + ": kernel of size " + std::to_string(kernel) + " (dilated span " +
                std::to_string(span) + ") is larger than the padded input of size " +
                std::to_string(padded) + " (input " + std::to_string(in) + ", padding " +
                std::to_string(padding) + ")");
  }
  return (padded - span) / stride + 1;
}

ConvGeom ConvGeom::make(std::size_t N, std::size_t C, std::size_t H, std::size_t W,
                        std::size_t K, std::size_t KH, std::size_t KW, std::size_t stride,
                        std::size_t padding, std::size_t dilation, const std::string& who) {
  check_arg(N > 0, who, "batch size N", "> 0", std::to_string(N));
  check_arg(C > 0, who, "in-channels C", "> 0", std::to_string(C));
  check_arg(K > 0, who, "out-channels K", "> 0", std::to_string(K));
  ConvGeom g;
  g.N = N; g.C = C; g.H = H; g.W = W; g.K = K; g.KH = KH; g.KW = KW;
  g.stride = stride; g.padding = padding; g.dilation = dilation;
  g.OH = conv_out_size(H, KH, stride, padding, dilation, who);
  g.OW = conv_out_size(W, KW, stride, padding, dilation, who);
  // Every tensor of the pass, and a padded plane (FFT's), within kMaxElements: checked
  // before anything plans or allocates for them.
  checked_numel({N, C, H, W}, who);
  checked_numel({N, K, g.OH, g.OW}, who);
  checked_numel({K, C, KH, KW}, who);
  checked_numel({H + 2 * padding, W + 2 * padding}, who);
  return g;
}

ConvGeom ConvGeom::grouped(std::size_t G, const std::string& who) const {
  check_arg(G > 0, who, "groups", "> 0", "0");
  if (C % G != 0 || K % G != 0) {
    throw Error(who + ": groups must divide both channel counts, got groups " +
                std::to_string(G) + " for " + std::to_string(C) + " in-channels and " +
                std::to_string(K) + " out-channels");
  }
  ConvGeom g = *this;
  g.groups = G;
  return g;
}

ConvGeom ConvGeom::group() const {
  ConvGeom g = *this;
  g.C = group_in();
  g.K = group_out();
  g.groups = 1;
  return g;
}

double ConvGeom::flops() const {
  return 2.0 * static_cast<double>(N) * K * group_in() * KH * KW * OH * OW;
}

std::string to_string(ConvAlgo a) {
  switch (a) {
    case ConvAlgo::Auto: return "auto";
    case ConvAlgo::Direct: return "direct";
    case ConvAlgo::Im2colGemm: return "im2col";
    case ConvAlgo::FFT: return "fft";
    case ConvAlgo::Winograd: return "winograd";
    case ConvAlgo::Depthwise: return "depthwise";
  }
  return "?";
}

std::string to_string(ConvPass p) {
  switch (p) {
    case ConvPass::Forward: return "forward";
    case ConvPass::BackwardData: return "backward-data";
    case ConvPass::BackwardWeights: return "backward-weights";
  }
  return "?";
}

ConvAlgo parse_conv_algo(const std::string& s) {
  for (ConvAlgo a : {ConvAlgo::Auto, ConvAlgo::Direct, ConvAlgo::Im2colGemm, ConvAlgo::FFT,
                     ConvAlgo::Winograd, ConvAlgo::Depthwise})
    if (s == to_string(a)) return a;
  throw Error("conv algorithm must be one of auto, direct, im2col, fft, winograd, depthwise; "
              "got '" + s + "'");
}

}  // namespace minicnn
