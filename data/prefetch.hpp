// Training batches made ahead on a background thread, so the compute threads never wait.
//
//   auto augment = std::make_shared<Compose>();
//   augment->add<RandomCrop>(/*padding=*/2);
//   BatchLoader batches(train, /*batch_size=*/64,
//                       {.seed = 1, .norm = Normalization::fashion_mnist(),
//                        .augment = augment, .prefetch = 3});
//   while (batches.next()) train_step(batches.x(), batches.y());   // one epoch
//   std::cout << batches.wait_seconds();    // how long next() waited for a batch
//
// What BatchIterator does (the same shuffle, so the same orders for the same seed), and
// before the floats are made each image's bytes go through the augmentation, with draws
// that depend only on (augment_seed, epoch, dataset index) (data/augment.hpp).
//
// With prefetch = D > 0, one producer thread per epoch makes the epoch's batches in order
// into a pool of D + 1 reused batches: up to D made ahead while the caller holds one, so
// memory stays bounded by D + 1 batches. Making a batch (a copy, the augmentation and a
// table lookup per byte) is short and single-threaded beside the compute threads. With
// prefetch = 0 the batches are made by next() itself. Either way the batches are the
// same, bit for bit.
//
// An exception while making a batch ends the producer; next() then throws an Error
// naming the batch. Ending an epoch early (restart) or destroying the loader stops and
// joins the producer, also while it waits for a free slot.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "augment.hpp"
#include "mnist.hpp"

namespace minicnn {

struct LoaderOptions {
  bool shuffle = true;
  std::uint64_t seed = 1;  // of the shuffle: BatchIterator's orders for the same seed
  bool drop_last = false;
  Normalization norm = {};
  std::shared_ptr<const Transform> augment = nullptr;  // null: the images as they are
  std::uint64_t augment_seed = 1;
  std::size_t prefetch = 2;  // batches made ahead; 0: made by next() on the calling thread
};

class BatchLoader {
 public:
  // The loader keeps a reference to data, which must outlive it.
  BatchLoader(const Dataset& data, std::size_t batch_size, LoaderOptions opt = {});
  BatchLoader(Dataset&&, std::size_t, LoaderOptions = {}) = delete;
  ~BatchLoader();
  BatchLoader(const BatchLoader&) = delete;
  BatchLoader& operator=(const BatchLoader&) = delete;

  // The next batch of the epoch and true, or false at its end; the call after that
  // starts the next epoch. Throws Error when making a batch failed.
  bool next();
  // Ends the current epoch early: the next call to next() starts a new one.
  void restart();
  // Passes over n whole epochs without making their batches: their shuffles are drawn
  // and counted, so that the next epoch is the one a run that trained them would see
  // (resuming a run). Ends the current epoch first.
  void skip_epochs(std::size_t n);

  // The current batch, (B, C, H, W) floats and B labels; valid until the next call.
  const Tensor& x() const { return current_->x; }
  const Labels& y() const { return current_->y; }
  const std::vector<std::size_t>& indices() const { return current_->indices; }

  std::size_t batch_size() const { return batch_size_; }
  std::size_t num_batches() const { return num_batches_; }  // per epoch
  std::size_t batch_index() const { return batch_index_; }  // 0-based, of the current batch
  std::size_t epoch() const { return epoch_; }              // epochs started so far
  // Seconds next() spent waiting for a batch (with prefetch 0: making them), in total.
  double wait_seconds() const { return wait_seconds_; }

 private:
  struct Batch {
    Tensor x;
    Labels y;
    std::vector<std::size_t> indices;
  };
  void start_epoch();
  void stop_producer();
  void produce();
  // Makes batch k of the current epoch into b; scratch holds one image's bytes.
  void make(std::size_t k, Batch& b, std::vector<std::uint8_t>& scratch) const;
  // "BatchLoader(<data>): making batch K of NB in epoch E: <what>"
  Error failed(std::size_t k, const std::exception& e) const;

  const Dataset& data_;
  std::size_t batch_size_;
  LoaderOptions opt_;
  std::size_t num_batches_;
  Rng rng_;
  std::vector<std::size_t> order_;
  float lut_[256];
  bool in_epoch_ = false;
  std::size_t batch_index_ = 0, epoch_ = 0;
  double wait_seconds_ = 0;

  std::vector<Batch> pool_;  // prefetch + 1 batches, or 1 without prefetch
  Batch* current_ = nullptr;
  std::vector<std::uint8_t> scratch_;  // next()'s, without prefetch

  // Shared with the producer, under mutex_.
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Batch*> ready_, free_;
  std::exception_ptr error_;
  bool stop_ = false;
  std::thread producer_;
};

}  // namespace minicnn
