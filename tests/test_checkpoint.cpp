#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <minicnn/io/safetensors.hpp>
#include <minicnn/core/tensor.hpp>
#include <minicnn/train/checkpoint.hpp>
#include <minicnn/layers/dense.hpp>
#include <minicnn/layers/sequential.hpp>
#include <string>

#include "test_util.hpp"

using namespace minicnn;
using namespace minicnn::testing;
namespace fs = std::filesystem;

namespace {

// y = weight⊙x + bias on x (N, F), with a buffer "stat" (F) kept beside the parameters.
class Affine : public Layer {
 public:
  Affine(std::size_t F, float seed)
      : weight_(zeros({F})),
        bias_(zeros({F})),
        stat_(zeros({F})),
        dweight_(zeros({F})),
        dbias_(zeros({F})) {
    for (std::size_t f = 0; f < F; ++f) {
      weight_(f) = seed + 0.37f * float(f);
      bias_(f) = -seed / 3.0f + float(f);
      stat_(f) = seed * seed + float(f);
    }
  }
  Tensor forward_impl(const Tensor& x) override { return x * weight_ + bias_; }
  void backward_impl(const Tensor& dy, Tensor* dx) override {
    if (dx) *dx = dy * weight_;
  }
  std::vector<Parameter> parameters() override {
    return {{"weight", &weight_, &dweight_}, {"bias", &bias_, &dbias_}};
  }
  std::vector<Parameter> buffers() override { return {{"stat", &stat_, nullptr}}; }
  Shape output_shape(const Shape& x) const override { return x; }
  std::string name() const override { return "Affine(" + std::to_string(weight_.size()) + ")"; }

 private:
  Tensor weight_, bias_, stat_, dweight_, dbias_;
};

// Three Affine layers (the last of width F2) between two parameter-free ones.
Sequential make_net(float seed, std::size_t F2 = 3) {
  Sequential net;
  net.add<Affine>(3, seed);
  Sequential& block = net.add<Sequential>();
  block.add<Affine>(3, seed + 1);
  net.add<Affine>(F2, seed + 2);
  return net;
}

// Every tensor of the model's state by name, copied.
std::map<std::string, Tensor> snapshot(Layer& model) {
  std::map<std::string, Tensor> out;
  for (const Parameter& p : model.parameters()) out[p.name] = *p.value;
  for (const Parameter& p : model.buffers()) out[p.name] = *p.value;
  return out;
}

// The same names with the same bits.
bool same_state(const std::map<std::string, Tensor>& a, const std::map<std::string, Tensor>& b) {
  return std::ranges::equal(a, b, [](const auto& x, const auto& y) {
    return x.first == y.first && same_bits(x.second, y.second);
  });
}

class CheckpointTest : public TempDirTest {
 protected:
  // Loading path_ into model throws an Error naming the file and fault, and changes nothing.
  void expect_load_error(Layer& model, const std::string& fault) {
    const auto before = snapshot(model);
    expect_error_naming([&] { load_safetensors(model, path_); }, {path_, fault});
    EXPECT_TRUE(same_state(snapshot(model), before)) << "the model changed";
  }

  std::string path_ = file("net.safetensors");
};

}  // namespace

TEST_F(CheckpointTest, RoundTripIsBitExact) {
  Sequential a = make_net(0.3f);
  save_safetensors(a, path_);
  Sequential b = make_net(-5.0f);
  ASSERT_FALSE(same_state(snapshot(a), snapshot(b)));
  const Tensor* storage = b.parameters()[0].value;
  const float* data = storage->data();
  load_safetensors(b, path_);
  EXPECT_TRUE(same_state(snapshot(a), snapshot(b)));
  EXPECT_EQ(b.parameters()[0].value->data(), data) << "values copied into existing storage";

  // The file holds PyTorch's state_dict names and the "pt" format tag.
  SafetensorsMetadata meta;
  const auto file = read_safetensors(path_, &meta);
  for (const char* name : {"0.weight", "0.bias", "0.stat", "1.0.weight", "1.0.bias", "1.0.stat",
                           "2.weight", "2.bias", "2.stat"}) {
    EXPECT_EQ(file.count(name), 1u) << name;
  }
  EXPECT_EQ(file.size(), 9u);
  EXPECT_EQ(meta.at("format"), "pt");
}

TEST_F(CheckpointTest, AStandaloneLayerSavesUnderItsOwnNames) {
  Affine a(4, 1.0f), b(4, 2.0f);
  save_safetensors(a, path_);
  const auto file = read_safetensors(path_);
  EXPECT_EQ(file.count("weight") + file.count("bias") + file.count("stat"), 3u);
  load_safetensors(b, path_);
  EXPECT_TRUE(same_state(snapshot(a), snapshot(b)));
}

TEST_F(CheckpointTest, MissingTensorLeavesTheModelUnchanged) {
  Sequential small = make_net(0.3f);
  save_safetensors(small, path_);
  Sequential big = make_net(7.0f);
  big.add<Affine>(3, 1.0f);
  expect_load_error(big, "missing tensor '3.weight'");
}

TEST_F(CheckpointTest, UnexpectedTensorLeavesTheModelUnchanged) {
  Sequential big = make_net(0.3f);
  big.add<Affine>(3, 1.0f);
  save_safetensors(big, path_);
  Sequential small = make_net(7.0f);
  expect_load_error(small, "unexpected tensor '3.bias'");
}

TEST_F(CheckpointTest, ShapeMismatchLeavesTheModelUnchanged) {
  Sequential a = make_net(0.3f, /*F2=*/3);
  save_safetensors(a, path_);
  // Layer 0 fits and comes first; layer 2 does not: nothing may be copied.
  Sequential b = make_net(7.0f, /*F2=*/5);
  expect_load_error(b, "shape of '2.weight' is (3,), expected (5,)");
}

TEST_F(CheckpointTest, CorruptFileLeavesTheModelUnchanged) {
  Sequential a = make_net(0.3f);
  save_safetensors(a, path_);
  fs::resize_file(path_, fs::file_size(path_) - 1);
  Sequential b = make_net(7.0f);
  expect_load_error(b, "truncated");
}

TEST_F(CheckpointTest, DenseModelRoundTrip) {
  Rng ra(1), rb(2);
  Sequential a, b;
  a.add<Dense>(6, 4, true, ra);
  a.add<Dense>(4, 2, false, ra);
  b.add<Dense>(6, 4, true, rb);
  b.add<Dense>(4, 2, false, rb);
  save_safetensors(a, path_);
  load_safetensors(b, path_);
  EXPECT_TRUE(same_state(snapshot(a), snapshot(b)));
  const auto file = read_safetensors(path_);
  EXPECT_EQ(shape_of(file.at("0.weight")), (Shape{4, 6}));
  EXPECT_EQ(file.count("1.bias"), 0u);
  const Tensor x = zeros({3, 6}) + 0.5f;
  EXPECT_EQ(a.forward(x), b.forward(x));
}
