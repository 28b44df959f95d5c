// The one way to run a convolution pass by a named algorithm: the Conv2D layer, Auto's
// autotuning and bench/bench_conv all call conv2d_run.
//
// The tensors of a pass, by role (shapes as in geometry.hpp; g gives them):
//   Forward          reads x, w, b (b may be null)      overwrites y
//   BackwardData     reads dy, w                        overwrites dx
//   BackwardWeights  reads x, dy                        adds into dw, db (db may be null)
// Each algorithm keeps its scratch in its part of ConvWorkspace; reuse one workspace
// for the passes of one layer, so that FFT's backward passes find the spectra its
// forward made (fft.hpp says when).
//
// NaN and Inf: in every algorithm a NaN or Inf input reaches exactly the outputs it
// touches (those whose sum holds it), as in the textbook loops. FFT and Winograd would
// spread it over whole planes or tiles, so their pass whose output is not all finite
// runs again by im2col. The scan reads the output once: y or dx, or for
// backward-weights just dw and db (scanning the inputs instead read x and dy, 2.7% of
// the ResNet-20 training step of examples/).
#pragma once

#include <cstddef>
#include <vector>

#include "fft.hpp"
#include "geometry.hpp"
#include "im2col_gemm.hpp"
#include "winograd.hpp"

namespace minicnn {

struct ConvTensors {
  const float* x = nullptr;
  const float* w = nullptr;
  const float* b = nullptr;
  const float* dy = nullptr;
  float* y = nullptr;
  float* dx = nullptr;
  float* dw = nullptr;
  float* db = nullptr;
};

struct ConvWorkspace {
  Im2colWorkspace im2col;
  FftWorkspace fft;
  WinogradWorkspace winograd;
  std::vector<float> before;  // dw and db before an FFT or Winograd backward-weights
};

// Direct and im2col run every geometry; FFT needs one group, stride 1 and dilation 1;
// Winograd one group, a 3×3 kernel, stride 1 and dilation 1; Depthwise one input channel
// per group (groups = C); Auto is not an algorithm. (FFT and Winograd turn the channel
// sums into GEMMs over channels; a group's few channels leave those GEMMs too thin to
// pay for the transforms, so grouped convolutions run by im2col or the depthwise loops.)
bool conv_algo_eligible(ConvAlgo a, const ConvGeom& g);
// Bytes of workspace one pass of algorithm a takes with `threads` threads; `limit` bounds
// im2col's and Winograd's (each raised to its minimum where that is larger).
std::size_t conv_workspace_bytes(ConvAlgo a, const ConvGeom& g, ConvPass pass, int threads,
                                 std::size_t limit = Im2colWorkspace::kDefaultLimit);
// Runs one pass; throws Error (naming `who`) when algo is Auto or not eligible for g,
// or a pointer the pass needs is null.
void conv2d_run(ConvAlgo algo, ConvPass pass, const ConvGeom& g, const ConvTensors& t,
                ConvWorkspace& ws, const std::string& who = "conv2d_run");

}  // namespace minicnn
