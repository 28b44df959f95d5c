// Names shared by the convolution algorithms, the Conv2D layer and Auto selection.
#pragma once

#include <string>

namespace minicnn {

enum class ConvAlgo { Auto, Direct, Im2colGemm, FFT };
// The three passes of a convolution: y from x, dL/dx from dL/dy, dL/dW (and dL/db).
enum class ConvPass { Forward, BackwardData, BackwardWeights };

std::string to_string(ConvAlgo a);  // "auto", "direct", "im2col", "fft"
std::string to_string(ConvPass p);  // "forward", "backward-data", "backward-weights"
// Parses the names to_string gives; throws Error on anything else.
ConvAlgo parse_conv_algo(const std::string& s);

}  // namespace minicnn
