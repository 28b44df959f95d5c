#include <minicnn/core/random.hpp>

#include <gtest/gtest.h>

namespace {

// Every test starts with the layers' generator as a fresh process has it, so
// that a test draws the same weights whether ctest runs it alone or the binary runs it
// after others (a gradient check whose draw put every BatchNorm bias at a ReLU's kink
// failed only after the tests before it).
class FreshGenerator : public ::testing::EmptyTestEventListener {
  void OnTestStart(const ::testing::TestInfo&) override { minicnn::manual_seed(minicnn::kDefaultSeed); }
};

}  // namespace

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::UnitTest::GetInstance()->listeners().Append(new FreshGenerator);
  return RUN_ALL_TESTS();
}
