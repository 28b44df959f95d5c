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
//
// Calibration (opt-in): those constants hold on one machine. With
// MINICNN_CONV_CALIBRATION=cache, the first time a process asks the model anything for a
// thread count it reads a calibration for this machine from the user's cache directory
// ($XDG_CACHE_HOME/minicnn, else ~/.cache/minicnn; one file per CPU model, OpenBLAS
// kernel, library version and thread count), or measures one (a fraction of a second:
// every algorithm and pass on a tiny probe and seven small layers) and writes it there.
// Per algorithm and pass it holds a fixed cost per call, timed on the tiny probe, and a
// factor on the model's estimate, the geometric mean of the measured over the estimated
// times of the probes (the fixed cost taken off). An estimate is then
//   fixed cost + factor · built-in estimate.
// MINICNN_CONV_CALIBRATION=measure measures again and rewrites the cache, =PATH reads a
// calibration file, and unset (or "builtin") uses the constants alone: on the project's
// machine, whose speed drifts from run to run, fresh calibrations moved the factors by up
// to 1.8× between runs and two of three mis-picked LeNet's second layer (im2col for FFT,
// 2.3 times slower), where the constants pick right; so they are the default.
#pragma once

#include <array>
#include <cstddef>
#include <string>

#include "dispatch.hpp"

namespace minicnn {

struct ConvChoice {
  ConvAlgo algo = ConvAlgo::Direct;
  double seconds = 0.0;  // measured when `measured`, else estimated
  bool measured = false;
  std::size_t workspace_bytes = 0;
};

// The cost model's corrections for one machine and thread count (see above); indexed by
// static_cast<int>(ConvAlgo) and static_cast<int>(ConvPass).
struct ConvCalibration {
  static constexpr int kAlgos = 6, kPasses = 3;
  std::array<std::array<double, kPasses>, kAlgos> fixed_seconds{};
  std::array<std::array<double, kPasses>, kAlgos> factor{};
  int threads = 1;
  std::string source = "builtin";  // "builtin", "measured", or the file it was read from
  ConvCalibration();               // the built-in one: factors 1, fixed costs 0
};

// Times the probes with the current num_threads() (under a second on a 2-core machine).
ConvCalibration conv_measure_calibration();
// The calibration the model uses for `threads`, chosen once per process by
// MINICNN_CONV_CALIBRATION as described above; when `threads` is not the current
// num_threads() and no file holds one for it, the built-in one.
const ConvCalibration& conv_calibration(int threads);
// What conv_calibration does once per thread count, as a function: `mode` is "builtin",
// "" (the cache file, measured and written when absent: MINICNN_CONV_CALIBRATION=cache),
// "measure", or a file's path; `cache_path` the cache file ("" for none).
ConvCalibration conv_calibration_for(int threads, const std::string& mode,
                                     const std::string& cache_path);
// The cache file for this machine and thread count; "" when there is no cache directory.
std::string conv_calibration_cache_path(int threads);
// A calibration as a small text file (written atomically), and back; a file that is
// not one, or is truncated, is an Error naming it and what is wrong.
void write_conv_calibration(const std::string& path, const ConvCalibration& c);
ConvCalibration read_conv_calibration(const std::string& path);

// The cost model's estimate, in seconds, of one pass with `threads` threads: with the
// calibration conv_calibration(threads), or with the one given.
double conv_estimate_seconds(ConvAlgo a, const ConvGeom& g, ConvPass pass, int threads);
double conv_estimate_seconds(ConvAlgo a, const ConvGeom& g, ConvPass pass, int threads,
                             const ConvCalibration& c);
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
