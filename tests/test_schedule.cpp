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
