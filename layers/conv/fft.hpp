// Convolution by FFT, for stride 1 and dilation 1 (any padding).
//
// x is (N,C,H,W), w is (K,C,KH,KW), y is (N,K,OH,OW), OH = H + 2p − KH + 1. By the
// correlation theorem, at each frequency f
//   forward           Y_f  = X_f · W_fᴴ      (rows × C)·(C × K)   then y from IFFT(Y) + b
//   backward-data     dX_f = dY_f · W_f      (rows × K)·(K × C)   then dx from IFFT(dX)
//   backward-weights  dW_f = dY_fᴴ · X_f     (K × rows)·(rows × C) then dw += crop(IFFT(dW))
// so the sum over channels is one small complex GEMM per frequency (cgemm), the
// transforms run in parallel over planes and the GEMMs in parallel over frequencies.
//
// Whole planes: every plane is zero-padded into an Lh × Lw buffer (input at offset
// (p, p), kernel and dy at (0, 0)), Lh ≥ H + 2p the next size FFTW is fast at; that is
// as far as the linear result needs, since no output reads past the padded input. The
// rows are the N images.
//
// Tiles (overlap-save): the output plane is cut into blocks of S × S' (S = T − KH + 1,
// S' = T − KW + 1), and each block computed from one T × T transform of the window of
// padded x it reads; a block's outputs are the part of the circular correlation that
// does not wrap. The rows are then (image, block) pairs, so the GEMMs get N·blocks rows
// instead of N and the transforms of 16² to 64² values stay in cache: for 7×7 and 9×9
// kernels on planes of 56² and more, the passes ran 1.4 to 3 times faster than on whole
// planes. backward-weights uses forward's blocks (dy's block at (0, 0) of its tile);
// backward-data cuts dx into blocks the same way, each the valid part of the circular
// convolution of dy's window with the kernel. fft_tile_size picks the tiling.
//
// FftWorkspace keeps the spectra and knows what each was made from: the address of
// the tensor and the geometry. Forward always transforms x and w and remembers them; a
// backward pass reuses the spectrum of an x or w made on this workspace from the same
// address. With whole planes, the dy spectrum one backward pass makes serves the other
// backward pass, once, when it gets the same address (a second call of the same pass
// transforms dy anew); tiles cut dy differently for the two. So a training step
// transforms x, w and dy once each (dy twice with tiles), as long as x, w and dy stay
// unchanged at their addresses between the passes (the Conv2D layer keeps its own copy
// of x). forget() drops every spectrum, forget(p) those made from the tensor at p: for
// a caller that changes a tensor in place, or starts a new step.
#pragma once

#include <cstddef>
#include <string>

#include "../../core/buffer.hpp"
#include "../../core/fft.hpp"
#include "geometry.hpp"

namespace minicnn {

// Callers create one, pass it to the passes, and may call forget() and bytes(); the
// members are the conv2d_fft_* functions' to manage.
struct FftWorkspace {
  ConvGeom geom;               // of the spectra below
  std::size_t Lh = 0, Lw = 0;  // transform size
  std::size_t tiled = 0;       // tile size of the spectra below, 0 for whole planes
  // Tiling: 0 picks by geometry (fft_tile_size), kWholePlanes transforms whole planes,
  // any other T cuts them in T × T tiles (T larger than the kernel and at most 16384,
  // else the passes throw Error; an FFTW-fast size such as 16, 32, 64 runs fastest). For
  // tests and benchmarks.
  static constexpr std::size_t kWholePlanes = static_cast<std::size_t>(-1);
  std::size_t tile = 0;
  AlignedBuffer<cfloat> x_spec, w_spec, dy_spec, out_spec;  // frequency-major
  AlignedBuffer<float> scratch;                              // per-thread planes
  // The address each spectrum was made from; null when there is none.
  const float* x_src = nullptr;
  const float* w_src = nullptr;
  const float* dy_src = nullptr;
  ConvPass dy_pass = ConvPass::Forward;  // the backward pass that made the dy spectrum

  // Drops every spectrum; or those made from the tensor at p, whose values changed.
  void forget() { x_src = w_src = dy_src = nullptr; }
  void forget(const float* p) {
    if (x_src == p) x_src = nullptr;
    if (w_src == p) w_src = nullptr;
    if (dy_src == p) dy_src = nullptr;
  }
  std::size_t bytes() const;
};

// Throws Error (naming `who`) unless g has stride 1 and dilation 1.
void check_fft_geom(const ConvGeom& g, const std::string& who = "conv2d_fft");
// Transform size (Lh, Lw) used for g's whole planes.
std::size_t fft_conv_size(std::size_t in, std::size_t padding);
// T of the T × T tiles the passes cut g's planes into, or 0 for whole planes: whichever
// fft_model_seconds prices lowest over the three passes (tiles of 16, 32 or 64).
std::size_t fft_tile_size(const ConvGeom& g);
// The model of one pass's time on one thread with fft_tile_size's tiling: transforms
// at 0.25 ns per n·log2(n) of each plane of n values, the products at 70 GFLOP/s.
double fft_model_seconds(const ConvGeom& g, ConvPass pass);
// Bytes of spectra and scratch one pass needs for g with `threads` threads.
std::size_t conv2d_fft_workspace_bytes(const ConvGeom& g, int threads);

void conv2d_fft_forward(const ConvGeom& g, const float* x, const float* w, const float* b,
                        float* y, FftWorkspace& ws);
void conv2d_fft_backward_data(const ConvGeom& g, const float* dy, const float* w, float* dx,
                              FftWorkspace& ws);
void conv2d_fft_backward_weights(const ConvGeom& g, const float* x, const float* dy, float* dw,
                                 float* db, FftWorkspace& ws);

}  // namespace minicnn
