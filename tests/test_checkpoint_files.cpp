// Checkpoints written by an earlier minicnn (tests/data/checkpoints/, made by
// tests/tools/make_checkpoints.cpp) still load, strictly, and give the outputs recorded
// with them.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <minicnn/io/safetensors.hpp>
#include <minicnn/train/checkpoint.hpp>
#include <string>

#include "checkpoint_models.hpp"
#include "test_util.hpp"

using namespace minicnn;
using namespace minicnn::testing;

namespace {

std::string kept(const std::string& name) {
  return std::string(MINICNN_SOURCE_DIR) + "/tests/data/checkpoints/" + name;
}

}  // namespace

TEST(CheckpointFiles, EveryKeptCheckpointLoadsAndGivesItsRecordedOutput) {
  for (const CheckpointModel& m : checkpoint_models()) {
    SCOPED_TRACE(m.name);
    manual_seed(99);  // other weights than the file's, so that loading must change them
    Sequential net = m.make();
    const LoadReport r = load_safetensors(net, kept(m.name + ".safetensors"));
    EXPECT_TRUE(r.fits());
    EXPECT_TRUE(r.kept_counts.empty()) << "the files carry every num_batches_tracked";
    EXPECT_EQ(r.metadata.at("format"), "pt");
    EXPECT_EQ(r.metadata.at("minicnn.version"), "0.1.0") << "the version that wrote them";
    EXPECT_EQ(r.metadata.at("minicnn.model"), net.name());
    EXPECT_TRUE(contains(r.metadata.at("minicnn.summary"), to_string(m.input_shape)));

    const auto expected = read_safetensors(kept(m.name + ".expected.safetensors"));
    const Tensor& x = expected.at("x").values;
    const Tensor& y = expected.at("y").values;
    ASSERT_EQ(shape_of(x), m.input_shape);
    net.set_training(false);
    const Tensor out = net.forward(x);
    ASSERT_EQ(shape_of(out), shape_of(y));
    // Auto may pick other algorithms on another machine, which sum in another order.
    for (std::size_t i = 0; i < y.size(); ++i)
      EXPECT_NEAR(out.data()[i], y.data()[i], 1e-4f * std::max(1.0f, std::abs(y.data()[i])))
          << "output " << i;
  }
}

TEST(CheckpointFiles, BatchNormStateIsKeptExactly) {
  const auto file = read_safetensors(kept("conv_batchnorm.safetensors"));
  const StoredTensor& count = file.at("1.num_batches_tracked");
  EXPECT_EQ(count.dtype, DType::I64);
  EXPECT_EQ(count.ints, std::vector<std::int64_t>{(std::int64_t{1} << 33) + 3});
  Sequential net = conv_batchnorm();
  load_safetensors(net, kept("conv_batchnorm.safetensors"));
  auto& bn = static_cast<BatchNorm2D&>(net[1]);
  EXPECT_EQ(bn.num_batches_tracked(), (std::int64_t{1} << 33) + 3);
  EXPECT_NE(bn.running_var(), Tensor(Shape{3}, 1.0f)) << "the running statistics moved";

  // The nested model's counts: one per BatchNorm2D, three training steps each.
  const auto nested = read_safetensors(kept("nested_containers.safetensors"));
  for (const char* name :
       {"stem.1.num_batches_tracked", "block.bn1.num_batches_tracked",
        "block.bn2.num_batches_tracked", "block.downsample.1.num_batches_tracked"})
    EXPECT_EQ(nested.at(name).ints, std::vector<std::int64_t>{3}) << name;
}
