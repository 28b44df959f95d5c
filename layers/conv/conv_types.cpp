#include "conv_types.hpp"

#include "../../core/tensor.hpp"

namespace minicnn {

std::string to_string(ConvAlgo a) {
  switch (a) {
    case ConvAlgo::Auto: return "auto";
    case ConvAlgo::Direct: return "direct";
    case ConvAlgo::Im2colGemm: return "im2col";
    case ConvAlgo::FFT: return "fft";
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
  for (ConvAlgo a : {ConvAlgo::Auto, ConvAlgo::Direct, ConvAlgo::Im2colGemm, ConvAlgo::FFT})
    if (s == to_string(a)) return a;
  throw Error("conv algorithm must be one of auto, direct, im2col, fft; got '" + s + "'");
}

}  // namespace minicnn
