// Convolution by FFT, for stride 1 and dilation 1 (any padding).
//
// x is (N,C,H,W), w is (K,C,KH,KW), y is (N,K,OH,OW), OH = H + 2p − KH + 1. Every
// plane is zero-padded into an Lh × Lw buffer (input at offset (p, p), kernel at
// (0, 0)), Lh ≥ H + 2p the next size FFTW is fast at; that is as far as the linear
// result needs, since no output reads past the padded input. By the correlation
// theorem, at each frequency f
//   forward           Y_f  = X_f · W_fᴴ      (N × C)·(C × K)   then y = crop(IFFT(Y)) + b
//   backward-data     dX_f = dY_f · W_f      (N × K)·(K × C)   then dx = crop(IFFT(dX))
//   backward-weights  dW_f = dY_fᴴ · X_f     (K × N)·(N × C)   then dw += crop(IFFT(dW))
// so the sum over channels is one small complex GEMM per frequency (cgemm), the
// transforms run in parallel over planes and the GEMMs in parallel over frequencies.
//
// FftWorkspace keeps the spectra: forward leaves those of x and w in it, a backward
// pass leaves that of dy. A backward call with reuse_spectra = true takes them from
// there instead of transforming again, so a training step transforms x, w and dy once
// each. Pass reuse_spectra = true only when x, w and dy are the very tensors of the
// last calls on this workspace (the Conv2D layer does).
#pragma once

#include <cstddef>
#include <string>

#include "../../core/buffer.hpp"
#include "../../core/fft.hpp"
#include "../../core/im2col.hpp"

namespace minicnn {

struct FftWorkspace {
  ConvGeom geom;              // of the spectra below
  std::size_t Lh = 0, Lw = 0;  // transform size
  AlignedBuffer<cfloat> x_spec, w_spec, dy_spec, out_spec;  // frequency-major
  AlignedBuffer<float> scratch;                              // per-thread planes
  bool x_valid = false, w_valid = false, dy_valid = false;
  void invalidate() { x_valid = w_valid = dy_valid = false; }
  std::size_t bytes() const;
};

// Throws Error (naming `who`) unless g has stride 1 and dilation 1.
void check_fft_geom(const ConvGeom& g, const std::string& who = "conv2d_fft");
// Transform size (Lh, Lw) used for g.
std::size_t fft_conv_size(std::size_t in, std::size_t padding);
// Bytes of spectra and scratch one pass needs for g with `threads` threads.
std::size_t conv2d_fft_workspace_bytes(const ConvGeom& g, int threads);

void conv2d_fft_forward(const ConvGeom& g, const float* x, const float* w, const float* b,
                        float* y, FftWorkspace& ws);
void conv2d_fft_backward_data(const ConvGeom& g, const float* dy, const float* w, float* dx,
                              FftWorkspace& ws, bool reuse_spectra = false);
void conv2d_fft_backward_weights(const ConvGeom& g, const float* x, const float* dy, float* dw,
                                 float* db, FftWorkspace& ws, bool reuse_spectra = false);

}  // namespace minicnn
