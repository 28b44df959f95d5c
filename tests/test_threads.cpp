// One model shared by many threads: forward in eval mode from several threads at once
// gives each the answer a single thread gets, with every conv algorithm and container;
// set_num_threads may be called while they run.
#include <minicnn/minicnn.hpp>

#include <gtest/gtest.h>
#include <omp.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <string>
#include <thread>
#include <vector>

#include "test_util.hpp"

using namespace minicnn;
using namespace minicnn::testing;

namespace {

// Every layer kind with state of its own: convolutions of the given algorithm (3×3, so
// that Winograd runs too), batch norm with trained statistics, both containers, a
// transposed convolution, pooling, dropout and dense layers.
Sequential shared_model(ConvAlgo algo) {
  Sequential net;
  net.add(Conv2D(2, 6, 3, {.padding = 1, .algo = algo}));
  net.add(BatchNorm2D(6));
  net.add(ReLU());
  Sequential body;
  body.add(Conv2D(6, 6, 3, {.padding = 1, .algo = algo}));
  body.add(BatchNorm2D(6));
  net.add(Residual(std::move(body), Sequential{}, ReLU()));
  Concat branches;
  branches.add(Conv2D(6, 4, 3, {.padding = 1, .algo = algo}));
  branches.add(Conv2D(6, 2, 1));
  net.add(std::move(branches));
  net.add(MaxPool2D(2));
  net.add(ConvTranspose2D(6, 3, 3, {.padding = 1}));
  net.add(Flatten());
  net.add(Dropout(0.3f));
  net.add(Dense(3 * 6 * 5, 7));
  // Trained statistics, so that eval mode differs from training mode.
  net.set_training(true);
  net.forward(random_tensor({4, 2, 12, 10}, 99));
  net.set_training(false);
  return net;
}

// Each of `threads` threads runs `rounds` forwards of its own inputs on one model; the
// outputs must equal those of the same inputs run one at a time.
void expect_shared_forward_matches(Layer& net, int threads, int rounds) {
  std::vector<Tensor> inputs, expected;
  for (int i = 0; i < threads * rounds; ++i) {
    // Batch sizes vary, so the threads also ask for new plans at the same time.
    inputs.push_back(random_tensor({std::size_t(1 + i % 3), 2, 12, 10}, 1000 + i));
  }
  for (const Tensor& x : inputs) expected.push_back(net.forward(x));
  std::vector<Tensor> got(inputs.size());
  std::atomic<int> go{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      ++go;
      while (go.load() < threads) std::this_thread::yield();  // start together
      for (int r = 0; r < rounds; ++r) {
        const std::size_t i = std::size_t(t * rounds + r);
        got[i] = net.forward(inputs[i]);
      }
    });
  }
  for (std::thread& th : pool) th.join();
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    ASSERT_EQ(got[i].shape(), expected[i].shape()) << "call " << i;
    for (std::size_t j = 0; j < got[i].size(); ++j)
      ASSERT_EQ(got[i].data()[j], expected[i].data()[j]) << "call " << i << ", element " << j;
  }
}

class SharedEvalForward : public ::testing::TestWithParam<ConvAlgo> {};

TEST_P(SharedEvalForward, EqualsOneThreadsAnswer) {
  Sequential net = shared_model(GetParam());
  expect_shared_forward_matches(net, 4, 25);
}

INSTANTIATE_TEST_SUITE_P(Algorithms, SharedEvalForward,
                         ::testing::Values(ConvAlgo::Auto, ConvAlgo::Direct,
                                           ConvAlgo::Im2colGemm, ConvAlgo::FFT,
                                           ConvAlgo::Winograd),
                         [](const auto& info) { return std::string(to_string(info.param)); });

// Threads that meet a geometry for the first time choose its plan concurrently.
TEST(SharedEvalForward, FirstCallsOfNewGeometriesAtOnce) {
  Sequential net = shared_model(ConvAlgo::Auto);
  std::vector<Tensor> xs;
  for (int t = 0; t < 4; ++t) xs.push_back(random_tensor({std::size_t(5 + t), 2, 12, 10}, t));
  std::vector<Tensor> got(xs.size());
  std::vector<std::thread> pool;
  for (std::size_t t = 0; t < xs.size(); ++t)
    pool.emplace_back([&, t] { got[t] = net.forward(xs[t]); });
  for (std::thread& th : pool) th.join();
  for (std::size_t t = 0; t < xs.size(); ++t) expect_near(got[t], net.forward(xs[t]), 0.0f);
}

// A shape error in one thread names the layer and leaves the others' answers right.
TEST(SharedEvalForward, ErrorInOneThreadOnly) {
  Sequential net = shared_model(ConvAlgo::Auto);
  const Tensor x = random_tensor({2, 2, 12, 10}, 5);
  const Tensor want = net.forward(x);
  std::vector<std::thread> pool;
  std::atomic<int> wrong{0}, errors{0};
  for (int t = 0; t < 3; ++t) {
    pool.emplace_back([&, t] {
      for (int r = 0; r < 6; ++r) {
        if (t == 0) {
          try {
            net.forward(random_tensor({1, 3, 12, 10}, r));
          } catch (const Error& e) {
            if (std::string(e.what()).find("Conv2D(2->6") != std::string::npos) ++errors;
          }
        } else if (!(net.forward(x) == want)) {
          ++wrong;
        }
      }
    });
  }
  for (std::thread& th : pool) th.join();
  EXPECT_EQ(errors.load(), 6);
  EXPECT_EQ(wrong.load(), 0);
}

// set_num_threads from one thread while others run forwards (each on a model of its
// own, so that only the thread count is shared): no hang, no wrong answer. The passes
// hold BLAS for whole parallel regions; two threads' regions overlapping without a gap
// once kept the setting waiting for ever (it hung 4 runs in 6 on im2col).
// With `team` > 0 the forwards run on the members of one OpenMP region of the caller's
// instead of two threads of their own (6 members on 2 cores had kept the setting waiting
// for 20 s and more, when members inside a parallel region skipped the wait).
void set_threads_while_others_run(ConvAlgo algo, std::size_t k, int team = 0) {
  SCOPED_TRACE(to_string(algo) + " " + std::to_string(k) + "x" + std::to_string(k) +
               " team " + std::to_string(team));
  const int before = num_threads();
  // GEMMs large enough for OpenBLAS to run them on several threads.
  const Tensor x = random_tensor({4, 8, 40, 40}, 7);
  const std::size_t pad = k / 2;
  std::atomic<bool> stop{false};
  std::atomic<int> wrong{0}, calls{0};
  std::vector<std::thread> pool;
  // The models are built here: their layers draw weights from the default generator,
  // which threads must not share (random.hpp).
  const int workers = team > 0 ? team : 2;
  std::vector<Sequential> nets(static_cast<std::size_t>(workers));
  for (Sequential& net : nets) {
    net.add(Conv2D(8, 32, k, {.padding = pad, .algo = algo}));
    net.add(ReLU());
    net.add(Conv2D(32, 32, k, {.padding = pad, .algo = algo}));
    net.set_training(false);
  }
  auto forwards = [&](Sequential& net) {
    const Tensor want = net.forward(x);
    while (!stop.load()) {
      const Tensor y = net.forward(x);
      ++calls;
      // Another thread count may split a sum differently: equal to rounding.
      for (std::size_t j = 0; j < y.size(); ++j)
        if (std::abs(y.data()[j] - want.data()[j]) > 1e-4f * (1.0f + std::abs(want.data()[j])))
          ++wrong;
    }
  };
  if (team > 0) {
    pool.emplace_back([&] {
#pragma omp parallel num_threads(team)
      forwards(nets[static_cast<std::size_t>(omp_get_thread_num())]);
    });
  } else {
    for (std::size_t t = 0; t < 2; ++t) pool.emplace_back([&, t] { forwards(nets[t]); });
  }
  // The count changes 30 times, each time only after the others have finished forwards
  // since the last change (a tight loop of changes alone starved them on a busy machine);
  // this thread sleeps while it waits, and a deadline turns a slow run into a failure.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  int changes = 0;
  for (; changes < 30 && std::chrono::steady_clock::now() < deadline; ++changes) {
    set_num_threads(1 + changes % 3);
    const int seen = calls.load();
    while (calls.load() < seen + 2 && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  stop = true;
  for (std::thread& th : pool) th.join();
  set_num_threads(before);
  EXPECT_EQ(wrong.load(), 0);
  EXPECT_EQ(changes, 30);
  EXPECT_GE(calls.load(), 60);
}

TEST(SetNumThreads, WhileOtherThreadsRunForward) {
  set_threads_while_others_run(ConvAlgo::Im2colGemm, 3);
}

// The same over the passes with regions of their own: FFT's per-frequency products and
// F(4x4, 5x5)'s blocks; 3x3 Winograd's blocks run in for_each_part as im2col's do.
TEST(SetNumThreads, WhileOtherThreadsRunFftAndWinogradForward) {
  set_threads_while_others_run(ConvAlgo::FFT, 3);
  set_threads_while_others_run(ConvAlgo::Winograd, 5);
  set_threads_while_others_run(ConvAlgo::Winograd, 3);
}

TEST(SetNumThreads, WhileTheMembersOfAUsersParallelRegionRunForward) {
  set_threads_while_others_run(ConvAlgo::Im2colGemm, 3, 6);
}

// The layer's own workspace serves a training step after eval calls from many threads.
TEST(SharedEvalForward, TrainingAfterSharedEvalStillChecksGradients) {
  Conv2D conv(2, 3, 3, {.padding = 1, .algo = ConvAlgo::FFT});
  conv.set_training(false);
  std::vector<std::thread> pool;
  for (int t = 0; t < 3; ++t)
    pool.emplace_back([&, t] { conv.forward(random_tensor({2, 2, 7, 6}, t)); });
  for (std::thread& th : pool) th.join();
  conv.set_training(true);
  expect_gradcheck(conv, {2, 2, 7, 6});
}

}  // namespace
