#include "prefetch.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <numeric>
#include <string>

namespace minicnn {

BatchLoader::BatchLoader(const Dataset& data, std::size_t batch_size, LoaderOptions opt)
    : data_(data), batch_size_(batch_size), opt_(std::move(opt)), rng_(opt_.seed) {
  const std::string who = "BatchLoader(" + data.name() + ")";
  check_arg(batch_size > 0, who, "batch_size", "> 0", std::to_string(batch_size));
  const Normalization n = opt_.norm;
  check_arg(std::isfinite(n.mean) && std::isfinite(n.stddev) && n.stddev > 0, who,
            "the normalisation", "finite with stddev > 0",
            "mean " + std::to_string(n.mean) + ", stddev " + std::to_string(n.stddev));
  const std::size_t N = data.size();
  num_batches_ = opt_.drop_last ? N / batch_size : (N + batch_size - 1) / batch_size;
  order_.resize(N);
  std::iota(order_.begin(), order_.end(), std::size_t{0});
  for (int b = 0; b < 256; ++b) lut_[b] = n(std::uint8_t(b));
  pool_.resize(opt_.prefetch + 1);
  current_ = &pool_[0];
}

BatchLoader::~BatchLoader() { stop_producer(); }

void BatchLoader::stop_producer() {
  if (!producer_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  producer_.join();
}

void BatchLoader::restart() {
  stop_producer();
  in_epoch_ = false;
}

void BatchLoader::skip_epochs(std::size_t n) {
  restart();
  for (std::size_t e = 0; e < n; ++e) {
    if (opt_.shuffle) shuffle_order(order_, rng_);
    ++epoch_;
  }
}

void BatchLoader::start_epoch() {
  stop_producer();  // the previous epoch's, done by now
  if (opt_.shuffle) shuffle_order(order_, rng_);
  ++epoch_;
  batch_index_ = 0;
  in_epoch_ = true;
  current_ = nullptr;
  if (opt_.prefetch == 0) return;
  ready_.clear();
  free_.clear();
  for (Batch& b : pool_) free_.push_back(&b);
  error_ = nullptr;
  stop_ = false;
  producer_ = std::thread([this] { produce(); });
}

void BatchLoader::produce() {
  std::vector<std::uint8_t> scratch;
  for (std::size_t k = 0; k < num_batches_; ++k) {
    Batch* b;
    {
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [&] { return stop_ || !free_.empty(); });
      if (stop_) return;
      b = free_.front();
      free_.pop_front();
    }
    try {
      make(k, *b, scratch);
    } catch (const std::exception& e) {
      std::lock_guard lock(mutex_);
      error_ = std::make_exception_ptr(failed(k, e));
      changed_.notify_all();
      return;
    }
    {
      std::lock_guard lock(mutex_);
      ready_.push_back(b);
    }
    changed_.notify_all();
  }
}

Error BatchLoader::failed(std::size_t k, const std::exception& e) const {
  return Error("BatchLoader(" + data_.name() + "): making batch " + std::to_string(k + 1) + " of " +
               std::to_string(num_batches_) + " in epoch " + std::to_string(epoch_) + ": " +
               e.what());
}

void BatchLoader::make(std::size_t k, Batch& b, std::vector<std::uint8_t>& scratch) const {
  const std::size_t pos = k * batch_size_;
  const std::size_t count = std::min(batch_size_, order_.size() - pos);
  const std::size_t C = data_.channels(), H = data_.height(), W = data_.width(), P = C * H * W;
  if (b.x.dimension() != 4 || b.x.shape()[0] != count) b.x.resize(Shape{count, C, H, W});
  b.y.resize(count);
  b.indices.resize(count);
  if (opt_.augment) scratch.resize(P);
  const std::uint8_t* images = data_.images().data();
  float* out = b.x.data();
  for (std::size_t i = 0; i < count; ++i) {
    const std::size_t idx = order_[pos + i];
    b.indices[i] = idx;
    b.y[i] = data_.labels()[idx];
    const std::uint8_t* src = images + idx * P;
    if (opt_.augment) {
      std::memcpy(scratch.data(), src, P);
      augment_image(*opt_.augment, {scratch.data(), C, H, W}, opt_.augment_seed, epoch_, idx);
      src = scratch.data();
    }
    float* dst = out + i * P;
    for (std::size_t j = 0; j < P; ++j) dst[j] = lut_[src[j]];
  }
}

bool BatchLoader::next() {
  if (!in_epoch_) {
    start_epoch();
  } else {
    ++batch_index_;
  }
  if (batch_index_ >= num_batches_) {
    stop_producer();
    in_epoch_ = false;
    return false;
  }
  const auto t0 = std::chrono::steady_clock::now();
  if (opt_.prefetch == 0) {
    current_ = &pool_[0];
    try {
      make(batch_index_, *current_, scratch_);
    } catch (const std::exception& e) {
      in_epoch_ = false;
      throw failed(batch_index_, e);
    }
  } else {
    std::unique_lock lock(mutex_);
    if (current_) free_.push_back(current_);
    current_ = nullptr;
    changed_.notify_all();
    changed_.wait(lock, [&] { return !ready_.empty() || error_; });
    if (ready_.empty()) {
      const std::exception_ptr e = error_;
      lock.unlock();
      stop_producer();
      in_epoch_ = false;
      current_ = &pool_[0];
      std::rethrow_exception(e);
    }
    current_ = ready_.front();
    ready_.pop_front();
  }
  wait_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return true;
}

}  // namespace minicnn
