#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <minicnn/core/tensor.hpp>
#include <minicnn/train/optimizer.hpp>
#include <minicnn/train/schedule.hpp>
#include <string>

#include "test_util.hpp"

using namespace minicnn;
using namespace minicnn::testing;

namespace {

struct Fixture {
  Tensor w = {1.0f};
  Tensor g = {0.0f};
  SGD opt{{{"w", &w, &g}}, {.lr = 0.1f, .momentum = 0.9f}};
};

}  // namespace

TEST(StepLR, HalvesEveryTwoEpochs) {
  Fixture f;
  StepLR sched(f.opt, /*step_size=*/2, /*gamma=*/0.5f);
  EXPECT_EQ(sched.epoch(), 0u);
  EXPECT_FLOAT_EQ(f.opt.lr(), 0.1f);
  const float want[] = {0.1f, 0.05f, 0.05f, 0.025f, 0.025f, 0.0125f};  // epochs 1..6
  for (float w : want) {
    sched.step();
    EXPECT_FLOAT_EQ(f.opt.lr(), w) << "epoch " << sched.epoch();
  }
  EXPECT_EQ(sched.epoch(), 6u);
  EXPECT_FLOAT_EQ(sched.base_lr(), 0.1f);
  EXPECT_FLOAT_EQ(sched.lr_at(20), 0.1f * std::pow(0.5f, 10.0f));
}

TEST(CosineLR, FollowsTheHalfCosine) {
  Fixture f;
  CosineLR sched(f.opt, /*t_max=*/4, /*eta_min=*/0.01f);
  // lr = 0.01 + 0.09·(1 + cos(π·e/4))/2
  const double want[] = {0.0868198, 0.055, 0.0231802, 0.01};  // epochs 1..4
  for (double w : want) {
    sched.step();
    EXPECT_NEAR(f.opt.lr(), w, 1e-7) << "epoch " << sched.epoch();
  }
  // Past t_max the cosine climbs back, as PyTorch's CosineAnnealingLR does.
  sched.step();
  EXPECT_NEAR(f.opt.lr(), 0.0231802, 1e-7);
  EXPECT_NEAR(sched.lr_at(8), 0.1, 1e-7);
}

TEST(CosineLR, ReachesZeroWithoutGoingNegative) {
  Fixture f;
  CosineLR sched(f.opt, 3);
  for (int e = 0; e < 3; ++e) sched.step();
  EXPECT_GE(f.opt.lr(), 0.0f);
  EXPECT_NEAR(f.opt.lr(), 0.0f, 1e-9);
}

TEST(LRScheduler, BadArgumentsThrowNamingThem) {
  Fixture f;
  expect_error_naming([&] { StepLR(f.opt, 0); }, {"StepLR", "step_size", "0"});
  expect_error_naming([&] { StepLR(f.opt, 2, std::numeric_limits<float>::quiet_NaN()); },
                      {"StepLR", "gamma", "nan"});
  expect_error_naming([&] { CosineLR(f.opt, 0); }, {"CosineLR", "t_max", "0"});
  expect_error_naming([&] { CosineLR(f.opt, 5, -1.0f); }, {"CosineLR", "eta_min", "-1"});
}

TEST(WarmupCosineLR, RisesLinearlyThenFollowsTheCosine) {
  Fixture f;
  WarmupCosineLR sched(f.opt, {.warmup = 3, .total = 7, .eta_min = 0.0f});
  EXPECT_EQ(sched.every(), StepEvery::Batch);
  EXPECT_FLOAT_EQ(sched.base_lr(), 0.1f);
  // Warm-up 0.1·(s + 1)/4 for s < 3; then 0.1·(1 + cos(π·(s − 3)/4))/2 up to s = 7.
  EXPECT_FLOAT_EQ(f.opt.lr(), 0.025f);  // set when made: step 0's lr
  const double want[] = {0.05, 0.075, 0.1, 0.0853553, 0.05, 0.0146447, 0.0, 0.0};  // 1..8
  for (double w : want) {
    sched.step();
    EXPECT_NEAR(f.opt.lr(), w, 1e-7) << "step " << sched.steps();
  }
}

TEST(WarmupCosineLR, WithoutWarmupItIsCosineLRHeldAtEtaMin) {
  Fixture a, b;
  WarmupCosineLR warm(a.opt,
                      {.warmup = 0, .total = 4, .eta_min = 0.01f, .every = StepEvery::Epoch});
  CosineLR cosine(b.opt, 4, 0.01f);
  EXPECT_EQ(warm.every(), StepEvery::Epoch);
  for (int s = 0; s < 4; ++s) {
    warm.step();
    cosine.step();
    EXPECT_NEAR(a.opt.lr(), b.opt.lr(), 1e-8) << "step " << s + 1;
  }
  warm.step();
  EXPECT_FLOAT_EQ(a.opt.lr(), 0.01f);
}

TEST(OneCycleLR, FollowsPyTorchsTwoCosinePhases) {
  Fixture f;
  // total 10, pct_start 0.3: up at step 2, last at step 9; initial 0.1/25 = 0.004, final
  // 0.004/1e4 = 4e-7. Rising: 0.1 + (0.004 − 0.1)(1 + cos(π s/2))/2; falling over [2, 9].
  OneCycleLR sched(f.opt, {.max_lr = 0.1f, .total_steps = 10});
  EXPECT_FLOAT_EQ(f.opt.lr(), 0.004f);
  EXPECT_FLOAT_EQ(sched.base_lr(), 0.1f);
  sched.step();
  EXPECT_NEAR(f.opt.lr(), 0.052, 1e-7);
  sched.step();
  EXPECT_NEAR(f.opt.lr(), 0.1, 1e-7);
  for (std::size_t s = 3; s <= 9; ++s) {
    sched.step();
    const double t = double(s - 2) / 7.0;
    const double want = 4e-7 + (0.1 - 4e-7) * (1.0 + std::cos(3.14159265358979 * t)) / 2.0;
    EXPECT_NEAR(f.opt.lr(), want, 1e-7) << "step " << s;
  }
  EXPECT_NEAR(f.opt.lr(), 4e-7, 1e-12);
  sched.step();
  EXPECT_NEAR(f.opt.lr(), 4e-7, 1e-12);  // held after the last step
}

TEST(LRScheduler, SetStepsPutsTheScheduleWhereSteppingWould) {
  Fixture a, b;
  OneCycleLR stepped(a.opt, {.max_lr = 0.1f, .total_steps = 20});
  OneCycleLR placed(b.opt, {.max_lr = 0.1f, .total_steps = 20});
  for (int s = 0; s < 7; ++s) stepped.step();
  placed.set_steps(7);
  EXPECT_EQ(placed.steps(), 7u);
  EXPECT_EQ(a.opt.lr(), b.opt.lr());
  stepped.step();
  placed.step();
  EXPECT_EQ(a.opt.lr(), b.opt.lr());
}

TEST(LRScheduler, BadWarmupAndOneCycleArgumentsThrowNamingThem) {
  Fixture f;
  expect_error_naming([&] { WarmupCosineLR(f.opt, {.warmup = 5, .total = 5}); },
                      {"WarmupCosineLR", "total", "> warmup (5)"});
  expect_error_naming([&] { WarmupCosineLR(f.opt, {.total = 5, .eta_min = 0.5f}); },
                      {"WarmupCosineLR", "eta_min", "0.5"});
  expect_error_naming([&] { OneCycleLR(f.opt, {.max_lr = 0.0f, .total_steps = 10}); },
                      {"OneCycleLR", "max_lr", "> 0"});
  expect_error_naming([&] { OneCycleLR(f.opt, {.total_steps = 1}); },
                      {"OneCycleLR", "total_steps", "> 1"});
  expect_error_naming([&] { OneCycleLR(f.opt, {.total_steps = 10, .pct_start = 1.0f}); },
                      {"OneCycleLR", "pct_start", "(0, 1)"});
  expect_error_naming([&] { OneCycleLR(f.opt, {.total_steps = 10, .pct_start = 0.05f}); },
                      {"OneCycleLR", "both phases"});
  expect_error_naming([&] { OneCycleLR(f.opt, {.total_steps = 10, .div_factor = 0.5f}); },
                      {"OneCycleLR", "div_factor", "0.5"});
}
