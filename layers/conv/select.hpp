// Auto: which algorithm runs a convolution pass, by a cost model or by timing.
//
// The cost model estimates each eligible algorithm's time from the geometry: for
// im2col the GEMM's FLOPs at a rate that falls with its smallest dimension, plus the
// unfolding; for FFT 0.25 ns per n·log2(n) of every plane it transforms plus the
// per-frequency complex products; for Winograd its α² per-point GEMMs plus its input and
// output transforms per tile, channel and point; for the depthwise loops their FLOPs at
// one rate. The constants were fitted to the
// single-thread times of bench/bench_conv on the project's 2-core machine. Autotuning
// (Conv2DOptions::autotune, or MINICNN_CONV_AUTOTUNE=1) instead times every eligible
// algorithm once per geometry, pass and thread count, as cuDNN's benchmark mode does,
// and caches the winner for the rest of the process.
#pragma once

#include <array>
#include <cstddef>

#include "dispatch.hpp"

namespace minicnn {

struct ConvChoice {
  ConvAlgo algo = ConvAlgo::Direct;
  double seconds = 0.0;  // measured when `measured`, else estimated
  bool measured = false;
  std::size_t workspace_bytes = 0;
};

// The cost model's estimate, in seconds, of one pass with `threads` threads.
double conv_estimate_seconds(ConvAlgo a, const ConvGeom& g, ConvPass pass, int threads);
// The cheapest eligible algorithm by the cost model.
ConvChoice conv_select(const ConvGeom& g, ConvPass pass, int threads, std::size_t im2col_limit);
// The fastest eligible algorithm by timing (cached per geometry, pass and threads).
ConvChoice conv_autotune(const ConvGeom& g, ConvPass pass, int threads, std::size_t im2col_limit);
// True when the environment asks for autotuning (MINICNN_CONV_AUTOTUNE=1).
bool conv_autotune_from_env();
// The choice a layer makes for one pass: `requested` itself (with its estimate) unless
// it is Auto; then timed when `autotune` or the environment asks, else by the model.
ConvChoice conv_choose(ConvAlgo requested, const ConvGeom& g, ConvPass pass, int threads,
                       std::size_t im2col_limit, bool autotune);

}  // namespace minicnn
