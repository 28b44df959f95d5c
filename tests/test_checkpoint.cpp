#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <cstdint>
#include <minicnn/core/tensor.hpp>
#include <minicnn/core/version.hpp>
#include <minicnn/io/safetensors.hpp>
#include <minicnn/layers/batchnorm.hpp>
#include <minicnn/layers/conv2d.hpp>
#include <minicnn/layers/dense.hpp>
#include <minicnn/layers/flatten.hpp>
#include <minicnn/layers/sequential.hpp>
#include <minicnn/train/checkpoint.hpp>
#include <minicnn/train/fit.hpp>
#include <minicnn/train/optimizer.hpp>
#include <minicnn/train/schedule.hpp>
#include <string>
#include <vector>

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

// Every tensor of the model's state by name, copied: float tensors and int64 buffers.
struct State {
  std::map<std::string, Tensor> floats;
  std::map<std::string, std::int64_t> ints;
};

State snapshot(Layer& model) {
  State out;
  for (const Parameter& p : model.parameters()) out.floats[p.name] = *p.value;
  for (const Parameter& p : model.buffers()) {
    if (p.int64) {
      out.ints[p.name] = *p.int64;
    } else {
      out.floats[p.name] = *p.value;
    }
  }
  return out;
}

// The same names with the same bits.
bool same_state(const State& a, const State& b) {
  const auto same = [](const auto& x, const auto& y) {
    return x.first == y.first && same_bits(x.second, y.second);
  };
  return a.ints == b.ints && std::ranges::equal(a.floats, b.floats, same);
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
  EXPECT_EQ(file.at("0.weight").shape, (Shape{4, 6}));
  EXPECT_EQ(file.count("1.bias"), 0u);
  const Tensor x = zeros({3, 6}) + 0.5f;
  EXPECT_EQ(a.forward(x), b.forward(x));
}

TEST(Version, IsTheProjectVersion) { EXPECT_STREQ(kVersion, MINICNN_PROJECT_VERSION); }

TEST_F(CheckpointTest, MetadataNamesTheVersionTheModelAndItsLayers) {
  Sequential a = make_net(0.3f);
  save_safetensors(a, path_);
  SafetensorsMetadata meta;
  read_safetensors(path_, &meta);
  EXPECT_EQ(meta.at("format"), "pt");
  EXPECT_EQ(meta.at("minicnn.version"), kVersion);
  EXPECT_EQ(meta.at("minicnn.model"), "Sequential(3 layers)");
  // Without an input shape: each leaf by its path and name.
  EXPECT_EQ(meta.at("minicnn.summary"),
            "#    Layer\n"
            "0    Affine(3)\n"
            "1.0  Affine(3)\n"
            "2    Affine(3)\n");
  EXPECT_EQ(meta.count("minicnn.epoch"), 0u);

  // With one: the container's summary, output shapes and all.
  save_safetensors(a, path_, {.input_shape = {5, 3}, .metadata = {{"note", "run 7"}}});
  read_safetensors(path_, &meta);
  EXPECT_EQ(meta.at("minicnn.summary"), a.summary({5, 3}));
  EXPECT_TRUE(contains(meta.at("minicnn.summary"), "(5, 3)"));
  EXPECT_EQ(meta.at("note"), "run 7");

  // A standalone layer has a one-line summary.
  Affine one(4, 1.0f);
  save_safetensors(one, path_, {.input_shape = {2, 4}});
  read_safetensors(path_, &meta);
  EXPECT_EQ(meta.at("minicnn.summary"), "Affine(4): (2, 4) -> (2, 4)\n");

  Sequential dense;
  dense.add<Dense>(6, 4);
  expect_error_naming([&] { save_safetensors(dense, path_, {.input_shape = {5, 3}}); },
                      {path_, "no summary for input_shape (5, 3)", "Dense"});
  expect_error_naming(
      [&] { save_safetensors(a, path_, {.metadata = {{"minicnn.version", "9.9"}}}); },
      {path_, "'minicnn.version'"});
}

TEST_F(CheckpointTest, TrainingCheckpointNamesOptimiserScheduleAndEpoch) {
  Sequential a = make_net(0.3f);
  SGD sgd(a.parameters(), {.lr = 0.1f, .momentum = 0.9f});
  StepLR schedule(sgd, /*step_size=*/1, /*gamma=*/0.5f);
  schedule.step();
  save_safetensors(a, path_,
                   {.training = TrainingState{
                        .optimizer = &sgd, .schedule = &schedule, .epoch = 2, .epochs = 5}});
  SafetensorsMetadata meta;
  read_safetensors(path_, &meta);
  EXPECT_EQ(meta.at("minicnn.epoch"), "2 of 5");
  EXPECT_EQ(meta.at("minicnn.optimizer"), "SGD, lr 0.05");
  EXPECT_EQ(meta.at("minicnn.schedule"), "StepLR, lr 0.05 after 1 step, base lr 0.1");

  Adam adam(a.parameters());
  save_safetensors(a, path_, {.training = TrainingState{.optimizer = &adam, .epoch = 1}});
  read_safetensors(path_, &meta);
  EXPECT_EQ(meta.at("minicnn.epoch"), "1");
  EXPECT_EQ(meta.at("minicnn.optimizer"), "Adam, lr 0.001");
  EXPECT_EQ(meta.count("minicnn.schedule"), 0u);
}

TEST_F(CheckpointTest, FitSavesTrainingCheckpointsThatSayWhereTrainingStood) {
  // 32 images of 4×4 bytes, two classes: the brighter half.
  std::vector<std::uint8_t> images(32 * 16), labels(32);
  for (std::size_t i = 0; i < 32; ++i) {
    labels[i] = std::uint8_t(i % 2);
    for (std::size_t k = 0; k < 16; ++k)
      images[i * 16 + k] = std::uint8_t((k < 8) == (i % 2 == 0) ? 200 : 10 + (i * 7 + k) % 30);
  }
  const Dataset data(std::move(images), std::move(labels), 4, 4, 2, "halves");
  Sequential net;
  net.add<Flatten>();
  net.add<Dense>(16, 2);
  SGD sgd(net.parameters(), {.lr = 0.05f});
  CosineLR schedule(sgd, /*t_max=*/4);
  fit(net, sgd, data, data,
      {.epochs = 2, .batch_size = 8, .schedule = &schedule, .checkpoint_path = path_,
       .progress = false});

  SafetensorsMetadata meta;
  read_safetensors(path_, &meta);
  EXPECT_EQ(meta.at("minicnn.epoch"), "2 of 2");
  // Saved before the schedule stepped at the end of epoch 2: the lr epoch 2 trained with.
  EXPECT_EQ(meta.at("minicnn.optimizer"), "SGD, lr " + format_float(schedule.lr_at(1)));
  EXPECT_EQ(meta.at("minicnn.schedule"),
            "CosineLR, lr " + format_float(schedule.lr_at(1)) + " after 1 step, base lr 0.05");
  EXPECT_EQ(meta.at("minicnn.summary"), net.summary({1, 1, 4, 4}));
}

namespace {

// A file for make_net(...) with one tensor of each kind of difference: "0.weight" fits,
// "0.bias" has another shape, "0.stat" another dtype, "9.extra" is not the model's, and
// the tensors of layers 1 and 2 are missing.
void write_misfit(const std::string& path) {
  const Tensor weight = Tensor{10.0f, 20.0f, 30.0f}, bias = zeros({4}), extra = zeros({1});
  const std::int64_t stat = 5;
  save_safetensors(
      {{"0.weight", &weight}, {"0.bias", &bias}, {"0.stat", &stat, Shape{}}, {"9.extra", &extra}},
      path);
}

const std::vector<std::string> kMissing = {"1.0.weight", "1.0.bias", "2.weight", "2.bias",
                                           "1.0.stat",   "2.stat"};

}  // namespace

TEST_F(CheckpointTest, EveryDifferenceInOneErrorAndTheModelUnchanged) {
  write_misfit(path_);
  Sequential b = make_net(7.0f);
  std::vector<std::string> parts = {
      "does not fit Sequential(3 layers)",
      "6 missing, 1 unexpected, 1 shape mismatch, 1 dtype mismatch",
      "the model is unchanged",
      "unexpected tensor '9.extra'",
      "shape of '0.bias' is (4,), expected (3,)",
      "dtype of '0.stat' is I64, expected F32 (or F16, BF16)"};
  for (const std::string& m : kMissing) parts.push_back("missing tensor '" + m + "'");
  const auto before = snapshot(b);
  parts.push_back(path_);
  expect_error_naming([&] { load_safetensors(b, path_); }, parts);
  EXPECT_TRUE(same_state(snapshot(b), before)) << "the model changed";
}

TEST_F(CheckpointTest, NotStrictLoadsWhatFitsAndReportsTheRest) {
  write_misfit(path_);
  Sequential b = make_net(7.0f);
  const auto before = snapshot(b);
  const LoadReport r = load_safetensors(b, path_, {.strict = false});
  EXPECT_FALSE(r.fits());
  EXPECT_EQ(r.loaded, std::vector<std::string>{"0.weight"});
  EXPECT_EQ(r.missing, kMissing);
  EXPECT_EQ(r.unexpected, std::vector<std::string>{"9.extra"});
  ASSERT_EQ(r.shape_mismatches.size(), 1u);
  EXPECT_EQ(r.shape_mismatches[0].name, "0.bias");
  EXPECT_EQ(r.shape_mismatches[0].in_file, "(4,)");
  EXPECT_EQ(r.shape_mismatches[0].in_model, "(3,)");
  ASSERT_EQ(r.dtype_mismatches.size(), 1u);
  EXPECT_EQ(r.dtype_mismatches[0].name, "0.stat");
  EXPECT_EQ(r.dtype_mismatches[0].in_file, "I64");
  EXPECT_TRUE(r.kept_counts.empty());
  EXPECT_TRUE(contains(r.differences(), "missing tensor '2.bias'\n"));

  // Only 0.weight changed.
  State after = snapshot(b);
  EXPECT_EQ(after.floats.at("0.weight"), (Tensor{10.0f, 20.0f, 30.0f}));
  after.floats.at("0.weight") = before.floats.at("0.weight");
  EXPECT_TRUE(same_state(after, before));

  // A file that fits gives a clean report.
  Sequential a = make_net(0.3f);
  save_safetensors(a, path_);
  const LoadReport clean = load_safetensors(b, path_, {.strict = false});
  EXPECT_TRUE(clean.fits());
  EXPECT_EQ(clean.loaded.size(), 9u);
  EXPECT_EQ(clean.differences(), "");
  EXPECT_EQ(clean.metadata.at("minicnn.version"), kVersion);
  EXPECT_TRUE(same_state(snapshot(a), snapshot(b)));
}

namespace {

// Conv2D then BatchNorm2D: "0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean",
// "1.running_var", "1.num_batches_tracked".
Sequential conv_bn(std::uint64_t seed) {
  Rng rng(seed);
  Sequential net;
  net.add<Conv2D>(2, 3, 3);
  BatchNorm2D& bn = net.add<BatchNorm2D>(3);
  for (Parameter& p : net.parameters()) fill_uniform(*p.value, -1, 1, rng);
  fill_uniform(bn.running_mean(), -1, 1, rng);
  fill_uniform(bn.running_var(), 0.5f, 2, rng);
  bn.num_batches_tracked() = std::int64_t(seed) * 1000;
  return net;
}

}  // namespace

TEST_F(CheckpointTest, BatchNormCountMovesAsI64Exactly) {
  Sequential a = conv_bn(1);
  const std::int64_t count = (std::int64_t{1} << 40) + 5;  // no float holds it
  static_cast<BatchNorm2D&>(a[1]).num_batches_tracked() = count;
  save_safetensors(a, path_);
  const auto file = read_safetensors(path_);
  const StoredTensor& t = file.at("1.num_batches_tracked");
  EXPECT_EQ(t.dtype, DType::I64);
  EXPECT_EQ(t.shape, Shape{});
  EXPECT_EQ(t.ints, std::vector<std::int64_t>{count});
  EXPECT_EQ(file.at("1.running_var").dtype, DType::F32);

  Sequential b = conv_bn(2);
  load_safetensors(b, path_);
  EXPECT_EQ(static_cast<BatchNorm2D&>(b[1]).num_batches_tracked(), count);
  EXPECT_TRUE(same_state(snapshot(a), snapshot(b)));
}

TEST_F(CheckpointTest, AFileWithoutTheCountLoadsAndKeepsIt) {
  // As written before minicnn kept num_batches_tracked, or by a tool that drops it.
  Sequential a = conv_bn(1);
  TensorRefs refs;
  for (const Parameter& p : a.parameters()) refs.emplace_back(p.name, p.value);
  for (const Parameter& p : a.buffers())
    if (!p.int64) refs.emplace_back(p.name, p.value);
  save_safetensors(refs, path_);

  Sequential b = conv_bn(2);
  const LoadReport r = load_safetensors(b, path_);
  EXPECT_TRUE(r.fits());
  EXPECT_EQ(r.kept_counts, std::vector<std::string>{"1.num_batches_tracked"});
  EXPECT_EQ(static_cast<BatchNorm2D&>(b[1]).num_batches_tracked(), 2000);
  EXPECT_EQ(static_cast<BatchNorm2D&>(b[1]).running_var(),
            static_cast<BatchNorm2D&>(a[1]).running_var());
}

TEST_F(CheckpointTest, ACountOfAnotherDtypeOrShapeIsReported) {
  Sequential a = conv_bn(1);
  const Tensor as_float = zeros({}), as_row = zeros({1});
  const std::int64_t count_row[1] = {3};
  const auto write_with = [&](const TensorRef& count) {
    TensorRefs refs;
    for (const Parameter& p : a.parameters()) refs.emplace_back(p.name, p.value);
    for (const Parameter& p : a.buffers())
      if (!p.int64) refs.emplace_back(p.name, p.value);
    refs.push_back(count);
    save_safetensors(refs, path_);
  };
  Sequential b = conv_bn(2);
  write_with({"1.num_batches_tracked", &as_float});
  expect_load_error(b, "dtype of '1.num_batches_tracked' is F32, expected I64");
  write_with({"1.num_batches_tracked", count_row, Shape{1}});
  expect_load_error(b, "shape of '1.num_batches_tracked' is (1,), expected ()");
  // And a float tensor stored as I64.
  const std::int64_t ints[3] = {1, 2, 3};
  TensorRefs refs;
  for (const Parameter& p : a.parameters())
    if (p.name == "1.bias") {
      refs.emplace_back(p.name, ints, Shape{3});
    } else {
      refs.emplace_back(p.name, p.value);
    }
  save_safetensors(refs, path_);
  expect_load_error(b, "dtype of '1.bias' is I64, expected F32 (or F16, BF16)");
}

TEST_F(CheckpointTest, HalfAndBfloat16FilesLoadIntoFloatTensors) {
  // Dense(2 -> 1): "0.weight" (1, 2) as F16 [1.5, -0.25], "0.bias" (1,) as BF16 [-3].
  std::string bytes;
  const std::string header = R"({"0.weight":{"dtype":"F16","shape":[1,2],"data_offsets":[0,4]},)"
                             R"("0.bias":{"dtype":"BF16","shape":[1],"data_offsets":[4,6]}})";
  std::string padded = header + std::string((8 - header.size() % 8) % 8, ' ');
  for (int i = 0; i < 8; ++i) bytes += static_cast<char>(padded.size() >> (8 * i));
  bytes += padded;
  bytes += std::string("\x00\x3e\x00\xb4\x40\xc0", 6);  // 0x3e00, 0xb400, 0xc040
  write_bytes(path_, bytes);

  Sequential net;
  net.add<Dense>(2, 1);
  load_safetensors(net, path_);
  Dense& d = static_cast<Dense&>(net[0]);
  EXPECT_EQ(d.weight(), (Tensor{{1.5f, -0.25f}}));
  EXPECT_EQ(d.bias(), (Tensor{-3.0f}));
}
