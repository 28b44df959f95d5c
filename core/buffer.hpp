// AlignedBuffer: a 64-byte aligned scratch array that keeps its memory between uses.
//
// Workspaces (im2col columns, FFT spectra) are members of this type, sized by shape
// with ensure(); growing reallocates, shrinking never does, so a layer that runs the
// same shape every step allocates once.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <new>
#include <utility>

namespace minicnn {

template <class T>
class AlignedBuffer {
 public:
  static constexpr std::size_t kAlign = 64;

  AlignedBuffer() = default;
  explicit AlignedBuffer(std::size_t n) { ensure(n); }
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  AlignedBuffer(AlignedBuffer&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)), capacity_(std::exchange(o.capacity_, 0)) {}
  AlignedBuffer& operator=(AlignedBuffer&& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(capacity_, o.capacity_);
    return *this;
  }
  ~AlignedBuffer() { std::free(data_); }

  // Makes room for n elements (contents unspecified after a growth) and returns data().
  T* ensure(std::size_t n) {
    if (n > capacity_) {
      // n·sizeof(T) rounded up must not wrap, or a huge n would get a tiny block.
      if (n > (static_cast<std::size_t>(-1) - kAlign) / sizeof(T)) throw std::bad_alloc();
      std::free(data_);
      data_ = nullptr;
      capacity_ = 0;
      const std::size_t bytes = (n * sizeof(T) + kAlign - 1) / kAlign * kAlign;
      data_ = static_cast<T*>(std::aligned_alloc(kAlign, bytes));
      if (data_ == nullptr) throw std::bad_alloc();
      capacity_ = n;
    }
    return data_;
  }

  T* data() { return data_; }
  const T* data() const { return data_; }
  std::size_t capacity() const { return capacity_; }
  std::size_t bytes() const { return capacity_ * sizeof(T); }

 private:
  T* data_ = nullptr;
  std::size_t capacity_ = 0;
};

// n rounded up so that consecutive blocks of n elements of T stay 64-byte aligned.
template <class T>
constexpr std::size_t aligned_count(std::size_t n) {
  constexpr std::size_t per = AlignedBuffer<T>::kAlign / sizeof(T);
  return (n + per - 1) / per * per;
}

}  // namespace minicnn
