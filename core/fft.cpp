#include "fft.hpp"

#include <fftw3.h>

#include <climits>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <tuple>

#include "buffer.hpp"
#include "tensor.hpp"

namespace minicnn {
namespace {

struct PlanCache {
  std::mutex mutex;
  // std::map never moves its nodes, so references handed out stay valid.
  std::map<std::tuple<std::size_t, std::size_t, int>, FftPlan2D> plans;
  bool threads_ready = false;
  ~PlanCache() {
    for (auto& [key, p] : plans) {
      fftwf_destroy_plan(static_cast<fftwf_plan>(p.forward));
      fftwf_destroy_plan(static_cast<fftwf_plan>(p.inverse));
    }
  }
};

PlanCache& cache() {
  static PlanCache c;
  return c;
}

void check_aligned(const void* p, const char* who) {
  if (reinterpret_cast<std::uintptr_t>(p) % AlignedBuffer<float>::kAlign != 0) {
    throw Error(std::string(who) + ": buffer is not 64-byte aligned (use AlignedBuffer)");
  }
}

}  // namespace

const FftPlan2D& fft_plan(std::size_t h, std::size_t w, int threads) {
  // FFTW takes int sizes, and aborts on a size that wrapped to zero or below.
  check_arg(h > 0 && w > 0 && h <= INT_MAX && w <= INT_MAX, "fft_plan", "plane size",
            "in [1, 2^31)", std::to_string(h) + "x" + std::to_string(w));
  PlanCache& c = cache();
  std::lock_guard<std::mutex> lock(c.mutex);
  check_arg(threads >= 1, "fft_plan", "threads", ">= 1", std::to_string(threads));
  auto it = c.plans.find({h, w, threads});
  if (it != c.plans.end()) return it->second;

  FftPlan2D p;
  p.h = h;
  p.w = w;
  AlignedBuffer<float> real(p.real_size());
  AlignedBuffer<cfloat> spec(p.spectrum_size());
  const int ih = static_cast<int>(h), iw = static_cast<int>(w);
  auto* r = real.data();
  auto* s = reinterpret_cast<fftwf_complex*>(spec.data());
  if (threads > 1 && !c.threads_ready) {
    fftwf_init_threads();
    c.threads_ready = true;
  }
  if (c.threads_ready) fftwf_plan_with_nthreads(threads);
  p.forward = fftwf_plan_dft_r2c_2d(ih, iw, r, s, FFTW_MEASURE);
  p.inverse = fftwf_plan_dft_c2r_2d(ih, iw, s, r, FFTW_MEASURE);
  if (c.threads_ready) fftwf_plan_with_nthreads(1);
  if (p.forward == nullptr || p.inverse == nullptr) {
    throw Error("fft_plan: FFTW could not plan a " + std::to_string(h) + "x" +
                std::to_string(w) + " transform");
  }
  return c.plans.emplace(std::make_tuple(h, w, threads), p).first->second;
}

void rfft2(const FftPlan2D& plan, const float* in, cfloat* out) {
  check_aligned(in, "rfft2");
  check_aligned(out, "rfft2");
  // FFTW's r2c never writes its input; the signature is not const only for history.
  fftwf_execute_dft_r2c(static_cast<fftwf_plan>(plan.forward), const_cast<float*>(in),
                        reinterpret_cast<fftwf_complex*>(out));
}

void irfft2(const FftPlan2D& plan, cfloat* in, float* out) {
  check_aligned(in, "irfft2");
  check_aligned(out, "irfft2");
  fftwf_execute_dft_c2r(static_cast<fftwf_plan>(plan.inverse),
                        reinterpret_cast<fftwf_complex*>(in), out);
}

std::size_t fft_fast_size(std::size_t n) {
  check_arg(n > 0, "fft_fast_size", "n", "> 0", std::to_string(n));
  for (std::size_t m = n;; ++m) {
    std::size_t r = m;
    for (std::size_t f : {2u, 3u, 5u, 7u})
      while (r % f == 0) r /= f;
    if (r == 1) return m;
  }
}

}  // namespace minicnn
