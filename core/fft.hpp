// FFTW single-precision 2-D real transforms, planned once per shape.
//
// A real (h, w) plane has the spectrum (h, w/2 + 1) of complex numbers (FFTW's
// half-complex layout: the other half follows by conjugate symmetry). rfft2 goes
// forward, irfft2 back, unnormalised: irfft2(rfft2(x)) = h·w·x.
//
// Plans are made with FFTW_MEASURE the first time a shape is asked for and cached;
// fft_plan() may be called from any thread, and rfft2/irfft2 run on any thread at once
// (FFTW's new-array execute is thread-safe; only planning is serialised). Buffers
// must be 64-byte aligned: use AlignedBuffer and aligned_count() for plane strides.
#pragma once

#include <complex>
#include <cstddef>

namespace minicnn {

using cfloat = std::complex<float>;

struct FftPlan2D {
  std::size_t h = 0, w = 0;
  void* forward = nullptr;  // fftwf_plan
  void* inverse = nullptr;  // fftwf_plan
  std::size_t real_size() const { return h * w; }
  std::size_t spectrum_size() const { return h * (w / 2 + 1); }
};

// threads > 1 gives a plan whose every transform is split over that many OpenMP
// threads (FFTW's own threading): for a few large planes, where running planes in
// parallel would leave threads idle. Call such a plan outside a parallel region.
const FftPlan2D& fft_plan(std::size_t h, std::size_t w, int threads = 1);

void rfft2(const FftPlan2D& plan, const float* in, cfloat* out);
// Destroys `in` (FFTW's complex-to-real transforms overwrite their input).
void irfft2(const FftPlan2D& plan, cfloat* in, float* out);

// Smallest m >= n of the form 2^a·3^b·5^c·7^d, the lengths FFTW is fastest at.
std::size_t fft_fast_size(std::size_t n);

}  // namespace minicnn
