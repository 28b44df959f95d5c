// export_onnx (onnx/export.hpp), checked against an independent runtime: each exported
// file is loaded by OpenCV's dnn module (cv::dnn::readNetFromONNX), run on a batch, and its
// output compared with the model's own eval-mode forward. Every file also passes ONNX's
// own checker (onnx::checker::check_model, opset 13 schemas) and is parsed back with the
// protobuf classes to check its nodes, attributes and initializers.
//
// Tolerance: OpenCV sums in another order (and fuses BatchNormalization into the
// convolution before it), so outputs agree to float rounding, not bit for bit:
// |opencv − minicnn| <= kTol · max(1, max |minicnn|) element by element.
#include <gtest/gtest.h>

#include <minicnn/minicnn.hpp>
#include <minicnn/onnx/export.hpp>
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <opencv2/core.hpp>
#include <opencv2/core/utils/logger.hpp>
#include <opencv2/dnn.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "../examples/resnet.hpp"
#include "test_util.hpp"

using namespace minicnn;
using minicnn::testing::contains;
using minicnn::testing::random_tensor;
using minicnn::testing::read_bytes;
using minicnn::testing::TempDirTest;
using minicnn::testing::write_bytes;

namespace {

constexpr float kTol = 1e-4f;

// OpenCV's dnn logs at INFO while it imports; the tests read its results, not its log.
const bool kQuietOpenCV = [] {
  cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_WARNING);
  return true;
}();

// The output of the ONNX file at path for input x, run by OpenCV's dnn.
Tensor run_opencv(const std::string& path, const Tensor& x) {
  cv::dnn::Net net = cv::dnn::readNetFromONNX(path);
  std::vector<int> dims(x.shape().begin(), x.shape().end());
  cv::Mat blob(static_cast<int>(dims.size()), dims.data(), CV_32F);
  std::copy(x.data(), x.data() + x.size(), blob.ptr<float>());
  net.setInput(blob);
  cv::Mat y = net.forward();
  Shape shape;
  for (int i = 0; i < y.dims; ++i) shape.push_back(static_cast<std::size_t>(y.size[i]));
  Tensor out = zeros(shape);
  const cv::Mat dense = y.isContinuous() ? y : y.clone();
  std::copy(dense.ptr<float>(), dense.ptr<float>() + out.size(), out.data());
  return out;
}

// Expects OpenCV's output to equal expected within kTol relative to its scale.
void expect_matches(const Tensor& opencv, const Tensor& expected) {
  ASSERT_EQ(shape_of(opencv), shape_of(expected));
  float scale = 1;
  for (float v : expected) scale = std::max(scale, std::abs(v));
  float worst = 0;
  std::size_t worst_at = 0;
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const float err = std::abs(opencv.data()[i] - expected.data()[i]);
    if (!(err <= worst)) worst = err, worst_at = i;  // NaN counts as the worst
  }
  EXPECT_LE(worst, kTol * scale) << "at flat index " << worst_at << ": opencv "
                                 << opencv.data()[worst_at] << ", minicnn "
                                 << expected.data()[worst_at] << " (scale " << scale << ")";
}

// The exported model at path, parsed back; it must pass ONNX's checker.
onnx::ModelProto parse(const std::string& path) {
  onnx::ModelProto m;
  const std::string bytes = read_bytes(path);
  EXPECT_TRUE(m.ParseFromString(bytes)) << path;
  EXPECT_NO_THROW(onnx::checker::check_model(m)) << path;
  return m;
}

std::vector<std::string> op_types(const onnx::ModelProto& m) {
  std::vector<std::string> ops;
  for (const auto& n : m.graph().node()) ops.push_back(n.op_type());
  return ops;
}

const onnx::NodeProto& node_named(const onnx::ModelProto& m, const std::string& name) {
  for (const auto& n : m.graph().node())
    if (n.name() == name) return n;
  ADD_FAILURE() << "no node named " << name;
  static const onnx::NodeProto kNone;
  return kNone;
}

const onnx::AttributeProto* attribute(const onnx::NodeProto& n, const std::string& name) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}
std::vector<std::int64_t> ints(const onnx::NodeProto& n, const std::string& name) {
  const onnx::AttributeProto* a = attribute(n, name);
  if (!a) return {};
  return {a->ints().begin(), a->ints().end()};
}
std::int64_t int_of(const onnx::NodeProto& n, const std::string& name) {
  const onnx::AttributeProto* a = attribute(n, name);
  return a ? a->i() : -1;
}

// The initializers by name, as tensors of their shape.
std::map<std::string, Tensor> initializers(const onnx::ModelProto& m) {
  std::map<std::string, Tensor> found;
  for (const auto& t : m.graph().initializer()) {
    EXPECT_EQ(t.data_type(), onnx::TensorProto::FLOAT) << t.name();
    Shape s(t.dims().begin(), t.dims().end());
    Tensor v = zeros(s);
    EXPECT_EQ(static_cast<std::size_t>(t.float_data_size()), v.size()) << t.name();
    std::copy_n(t.float_data().begin(), std::min<std::size_t>(v.size(), t.float_data_size()), v.data());
    found.emplace(t.name(), std::move(v));
  }
  return found;
}

// Random affine parameters and running statistics for every BatchNorm2D in the model
// (the defaults, mean 0 and variance 1, would hide a mix-up of the four inputs).
void randomise_batchnorms(Layer& model, std::uint64_t seed) {
  Rng rng(seed);
  for (Parameter& p : model.buffers()) {
    if (contains(p.name, "running_mean")) fill_uniform(*p.value, -0.5f, 0.5f, rng);
    if (contains(p.name, "running_var")) fill_uniform(*p.value, 0.5f, 2.0f, rng);
  }
  for (Parameter& p : model.parameters()) {
    if (p.value->dimension() != 1) continue;  // conv and dense weights stay as drawn
    const bool bn_weight = contains(p.name, ".weight") || p.name == "weight";
    if (bn_weight)
      fill_uniform(*p.value, 0.5f, 1.5f, rng);
    else
      fill_uniform(*p.value, -0.2f, 0.2f, rng);
  }
}

// Eval-mode forward of model, export at the example shape, OpenCV's run of the file on x;
// the two outputs must match. Returns the parsed file.
onnx::ModelProto export_and_compare(Layer& model, const Tensor& x, const std::string& path) {
  model.set_training(false);
  const Tensor expected = model.forward(x);
  export_onnx(model, shape_of(x), path);
  onnx::ModelProto m = parse(path);
  expect_matches(run_opencv(path, x), expected);
  return m;
}

// Caffe's LeNet, as examples/lenet.hpp builds it.
Sequential lenet() {
  Sequential net;
  net.add<Conv2D>(/*in=*/1, /*out=*/20, /*kernel=*/5);
  net.add<MaxPool2D>(/*kernel=*/2);
  net.add<Conv2D>(20, 50, 5);
  net.add<MaxPool2D>(2);
  net.add<Flatten>();
  net.add<Dense>(/*in=*/800, /*out=*/500);
  net.add<ReLU>();
  net.add<Dense>(500, 10);
  return net;
}

// A layer the exporter does not know: y = x·x.
class Square : public ElementwiseActivation {
 public:
  std::string name() const override { return "Square"; }

 protected:
  Tensor forward_impl(const Tensor& x) override {
    if (training()) keep(saved().x, x);
    return x * x;
  }
  // y = x²  ⇒  dx = 2·x·dy
  void backward_impl(const Tensor& dy, Tensor* dx) override {
    if (dx) *dx = 2.0f * saved().x * dy;
  }
};

class OnnxExport : public TempDirTest {};

}  // namespace

TEST_F(OnnxExport, LeNetMatchesOpenCV) {
  manual_seed(11);
  Sequential net = lenet();
  const onnx::ModelProto m =
      export_and_compare(net, random_tensor({8, 1, 28, 28}, 1), file("lenet.onnx"));
  EXPECT_EQ(op_types(m), (std::vector<std::string>{"Conv", "MaxPool", "Conv", "MaxPool", "Flatten",
                                                   "Gemm", "Relu", "Gemm"}));
  ASSERT_EQ(m.opset_import_size(), 1);
  EXPECT_EQ(m.opset_import(0).version(), 13);
  EXPECT_EQ(m.producer_name(), "minicnn");
  EXPECT_EQ(m.graph().input(0).name(), "input");
  EXPECT_EQ(m.graph().output(0).name(), "output");
  EXPECT_EQ(m.graph().node(7).output(0), "output");
}

TEST_F(OnnxExport, ResNet20MatchesOpenCV) {
  manual_seed(12);
  Sequential net = resnet::resnet20(3, 10);
  randomise_batchnorms(net, 5);
  const onnx::ModelProto m =
      export_and_compare(net, random_tensor({4, 3, 16, 16}, 2), file("resnet20.onnx"));
  // 19 convolutions and 2 projections, each with its BN; 9 adds, each then a ReLU.
  const std::vector<std::string> ops = op_types(m);
  EXPECT_EQ(std::count(ops.begin(), ops.end(), "Conv"), 21);
  EXPECT_EQ(std::count(ops.begin(), ops.end(), "BatchNormalization"), 21);
  EXPECT_EQ(std::count(ops.begin(), ops.end(), "Add"), 9);
  EXPECT_EQ(std::count(ops.begin(), ops.end(), "Relu"), 1 + 9 + 9);
  EXPECT_EQ(std::count(ops.begin(), ops.end(), "GlobalAveragePool"), 1);
  // The stride-2 block of stage 2: body, projection and the add that joins them.
  const onnx::NodeProto& add = node_named(m, "layer2.0.add");
  ASSERT_EQ(add.input_size(), 2);
  EXPECT_EQ(add.input(0), "layer2.0.bn2");
  EXPECT_EQ(add.input(1), "layer2.0.downsample.1");
  EXPECT_EQ(ints(node_named(m, "layer2.0.downsample.0"), "strides"), (std::vector<std::int64_t>{2, 2}));
  EXPECT_EQ(node_named(m, "layer2.0.act").input(0), "layer2.0.add");
  // An identity shortcut adds the block's input itself.
  EXPECT_EQ(node_named(m, "layer2.1.add").input(1), "layer2.0.act");
}

TEST_F(OnnxExport, InitializersAreTheWeightsUnderTheirStateDictNames) {
  manual_seed(13);
  Sequential net = resnet::resnet20(1, 10);
  randomise_batchnorms(net, 6);
  net.set_training(false);
  export_onnx(net, {2, 1, 8, 8}, file("resnet20.onnx"));
  const std::map<std::string, Tensor> init = initializers(parse(file("resnet20.onnx")));
  std::size_t checked = 0;
  for (std::vector<Parameter> group : {net.parameters(), net.buffers()})
    for (const Parameter& p : group) {
      if (p.int64) continue;  // num_batches_tracked: training state, no part of inference
      const auto it = init.find(p.name);
      if (it == init.end()) {
        ADD_FAILURE() << "no initializer " << p.name;
        continue;
      }
      EXPECT_TRUE(minicnn::testing::same_bits(it->second, *p.value)) << p.name;
      ++checked;
    }
  EXPECT_EQ(checked, init.size());
  const onnx::ModelProto m = parse(file("resnet20.onnx"));
  const onnx::NodeProto& bn = node_named(m, "layer3.2.bn1");
  EXPECT_EQ(bn.op_type(), "BatchNormalization");
  EXPECT_EQ(std::vector<std::string>(bn.input().begin(), bn.input().end()),
            (std::vector<std::string>{"layer3.2.conv1", "layer3.2.bn1.weight", "layer3.2.bn1.bias",
                                      "layer3.2.bn1.running_mean", "layer3.2.bn1.running_var"}));
  ASSERT_NE(attribute(bn, "epsilon"), nullptr);
  EXPECT_FLOAT_EQ(attribute(bn, "epsilon")->f(), 1e-5f);
}

TEST_F(OnnxExport, ConvSettingsBecomeAttributesAndMatchOpenCV) {
  manual_seed(14);
  Sequential net;
  net.add("a", Conv2D(3, 6, {3, 5}, {.stride = 2, .padding = 2, .dilation = 2}));
  net.add("b", Conv2D(6, 4, 1, {.bias = false}));
  const onnx::ModelProto m = export_and_compare(net, random_tensor({3, 3, 17, 19}, 3), file("conv.onnx"));
  const onnx::NodeProto& a = node_named(m, "a");
  EXPECT_EQ(ints(a, "kernel_shape"), (std::vector<std::int64_t>{3, 5}));
  EXPECT_EQ(ints(a, "strides"), (std::vector<std::int64_t>{2, 2}));
  EXPECT_EQ(ints(a, "pads"), (std::vector<std::int64_t>{2, 2, 2, 2}));
  EXPECT_EQ(ints(a, "dilations"), (std::vector<std::int64_t>{2, 2}));
  EXPECT_EQ(int_of(a, "group"), 1);
  EXPECT_EQ(a.input_size(), 3);                 // x, weight, bias
  EXPECT_EQ(node_named(m, "b").input_size(), 2);  // no bias
}

// A grouped convolution (two groups) and a depthwise one: `group` and the weights.
TEST_F(OnnxExport, GroupedConvMatchesOpenCV) {
  manual_seed(20);
  Sequential net;
  net.add("g", Conv2D(4, 6, 3, {.padding = 1, .groups = 2}));
  net.add("dw", Conv2D(6, 6, 3, {.padding = 1, .groups = 6}));
  const onnx::ModelProto m =
      export_and_compare(net, random_tensor({2, 4, 7, 7}, 9), file("grouped.onnx"));
  EXPECT_EQ(int_of(node_named(m, "g"), "group"), 2);
  EXPECT_EQ(int_of(node_named(m, "dw"), "group"), 6);
}

TEST_F(OnnxExport, ConvTransposeMatchesOpenCV) {
  manual_seed(15);
  Sequential net;
  net.add("up", ConvTranspose2D(4, 3, 3, {.stride = 2, .padding = 1, .output_padding = 1}));
  net.add<Sigmoid>();
  const onnx::ModelProto m = export_and_compare(net, random_tensor({2, 4, 7, 6}, 4), file("up.onnx"));
  const onnx::NodeProto& up = node_named(m, "up");
  EXPECT_EQ(up.op_type(), "ConvTranspose");
  EXPECT_EQ(ints(up, "output_padding"), (std::vector<std::int64_t>{1, 1}));
  EXPECT_EQ(ints(up, "strides"), (std::vector<std::int64_t>{2, 2}));
  EXPECT_EQ(ints(up, "pads"), (std::vector<std::int64_t>{1, 1, 1, 1}));
  EXPECT_EQ(int_of(up, "group"), 1);
  EXPECT_EQ(m.graph().output(0).type().tensor_type().shape().dim(2).dim_value(), 14);
}

// OpenCV 4.6 ignores ConvTranspose's dilations (its output is the undilated size), so a
// dilated ConvTranspose2D is checked by its attributes and output shape.
TEST_F(OnnxExport, DilatedConvTransposeAttributes) {
  Sequential net;
  net.add("up", ConvTranspose2D(4, 3, {3, 2}, {.stride = 3, .padding = 1, .output_padding = 2,
                                               .dilation = 2, .bias = false}));
  export_onnx(net, {2, 4, 5, 5}, file("up.onnx"));
  const onnx::ModelProto m = parse(file("up.onnx"));
  const onnx::NodeProto& up = node_named(m, "up");
  EXPECT_EQ(up.input_size(), 2);  // no bias
  EXPECT_EQ(ints(up, "kernel_shape"), (std::vector<std::int64_t>{3, 2}));
  EXPECT_EQ(ints(up, "dilations"), (std::vector<std::int64_t>{2, 2}));
  EXPECT_EQ(ints(up, "strides"), (std::vector<std::int64_t>{3, 3}));
  EXPECT_EQ(ints(up, "output_padding"), (std::vector<std::int64_t>{2, 2}));
  // ONNX's size, 3·(5 − 1) + 2 + 2·(3 − 1) + 1 − 2, is the layer's.
  const Shape y = net.output_shape({2, 4, 5, 5});
  const auto& dims = m.graph().output(0).type().tensor_type().shape().dim();
  EXPECT_EQ(dims[2].dim_value(), 17);
  EXPECT_EQ(static_cast<std::size_t>(dims[2].dim_value()), y[2]);
  EXPECT_EQ(static_cast<std::size_t>(dims[3].dim_value()), y[3]);
}

TEST_F(OnnxExport, ConcatMatchesOpenCV) {
  manual_seed(16);
  Sequential net;
  Concat inception;
  inception.add("b1x1", Conv2D(3, 4, 1));
  Sequential b3x3;
  b3x3.add(Conv2D(3, 5, 3, {.padding = 1}));
  b3x3.add<ReLU>();
  inception.add("b3x3", std::move(b3x3));
  inception.add("pool", MaxPool2D(3, {.stride = 1, .padding = 1}));
  net.add("mixed", std::move(inception));
  net.add<Tanh>();
  const onnx::ModelProto m = export_and_compare(net, random_tensor({2, 3, 9, 9}, 5), file("cat.onnx"));
  const onnx::NodeProto& cat = node_named(m, "mixed.concat");
  EXPECT_EQ(cat.op_type(), "Concat");
  EXPECT_EQ(int_of(cat, "axis"), 1);
  EXPECT_EQ(std::vector<std::string>(cat.input().begin(), cat.input().end()),
            (std::vector<std::string>{"mixed.b1x1", "mixed.b3x3.1", "mixed.pool"}));
}

TEST_F(OnnxExport, ActivationsAndPoolingMatchOpenCV) {
  manual_seed(17);
  Sequential net;
  net.add<Conv2D>(2, 6, 3);
  net.add<LeakyReLU>(0.2f);
  net.add<AvgPool2D>(3, PoolOptions{.stride = 2});
  net.add<Sigmoid>();
  net.add<MaxPool2D>(3, PoolOptions{.stride = 1, .padding = 1});
  net.add<Flatten>();
  net.add<Dense>(6 * 5 * 5, 7, /*bias=*/false);
  net.add<Tanh>();
  net.add<Dense>(7, 5);
  net.add<Softmax>();
  const onnx::ModelProto m = export_and_compare(net, random_tensor({5, 2, 13, 13}, 6), file("acts.onnx"));
  EXPECT_EQ(op_types(m), (std::vector<std::string>{"Conv", "LeakyRelu", "AveragePool", "Sigmoid",
                                                   "MaxPool", "Flatten", "Gemm", "Tanh", "Gemm",
                                                   "Softmax"}));
  EXPECT_FLOAT_EQ(attribute(node_named(m, "1"), "alpha")->f(), 0.2f);
  const onnx::NodeProto& avg = node_named(m, "2");
  EXPECT_EQ(ints(avg, "kernel_shape"), (std::vector<std::int64_t>{3, 3}));
  EXPECT_EQ(ints(avg, "strides"), (std::vector<std::int64_t>{2, 2}));
  EXPECT_EQ(ints(avg, "pads"), (std::vector<std::int64_t>{0, 0, 0, 0}));
  const onnx::NodeProto& max = node_named(m, "4");
  EXPECT_EQ(ints(max, "kernel_shape"), (std::vector<std::int64_t>{3, 3}));
  EXPECT_EQ(ints(max, "strides"), (std::vector<std::int64_t>{1, 1}));
  EXPECT_EQ(ints(max, "pads"), (std::vector<std::int64_t>{1, 1, 1, 1}));
  EXPECT_EQ(int_of(node_named(m, "6"), "transB"), 1);
  EXPECT_EQ(node_named(m, "6").input_size(), 2);  // no bias
  EXPECT_EQ(int_of(node_named(m, "9"), "axis"), 1);
}

// OpenCV 4.6 ignores AveragePool's count_include_pad (it counts the padding only in files
// whose producer is "pytorch"), so a padded AvgPool2D is checked by its attributes.
TEST_F(OnnxExport, PaddedAvgPoolCountsThePadding) {
  Sequential net;
  net.add("pool", AvgPool2D(3, {.stride = 2, .padding = 1}));
  export_onnx(net, {1, 2, 10, 10}, file("avg.onnx"));
  const onnx::ModelProto m = parse(file("avg.onnx"));
  const onnx::NodeProto& avg = node_named(m, "pool");
  EXPECT_EQ(avg.op_type(), "AveragePool");
  EXPECT_EQ(ints(avg, "pads"), (std::vector<std::int64_t>{1, 1, 1, 1}));
  EXPECT_EQ(int_of(avg, "count_include_pad"), 1);
  EXPECT_EQ(attribute(avg, "ceil_mode"), nullptr);  // ONNX's default 0: floor, as AvgPool2D
  EXPECT_EQ(m.graph().output(0).type().tensor_type().shape().dim(3).dim_value(), 5);
}

TEST_F(OnnxExport, DropoutIsTheIdentity) {
  manual_seed(18);
  Sequential net;
  net.add<Dense>(6, 8);
  net.add<Dropout>(0.5f);
  net.add<ReLU>();
  net.add<Dense>(8, 3);
  net.set_training(true);  // the export is of inference whatever the mode
  export_onnx(net, {4, 6}, file("drop.onnx"));
  const onnx::ModelProto m = parse(file("drop.onnx"));
  EXPECT_EQ(op_types(m), (std::vector<std::string>{"Gemm", "Identity", "Relu", "Gemm"}));
  net.set_training(false);
  const Tensor x = random_tensor({4, 6}, 7);
  expect_matches(run_opencv(file("drop.onnx"), x), net.forward(x));
}

TEST_F(OnnxExport, AnyBatchSizeUnlessFixed) {
  manual_seed(19);
  Sequential net = lenet();
  net.set_training(false);
  export_onnx(net, {1, 1, 28, 28}, file("any.onnx"));
  const onnx::ModelProto any = parse(file("any.onnx"));
  EXPECT_EQ(any.graph().input(0).type().tensor_type().shape().dim(0).dim_param(), "N");
  const Tensor x = random_tensor({5, 1, 28, 28}, 8);
  expect_matches(run_opencv(file("any.onnx"), x), net.forward(x));

  export_onnx(net, {3, 1, 28, 28}, file("fixed.onnx"), {.input_name = "image", .output_name = "logits",
                                                        .dynamic_batch = false});
  const onnx::ModelProto fixed = parse(file("fixed.onnx"));
  EXPECT_EQ(fixed.graph().input(0).name(), "image");
  EXPECT_EQ(fixed.graph().input(0).type().tensor_type().shape().dim(0).dim_value(), 3);
  EXPECT_EQ(fixed.graph().output(0).name(), "logits");
  EXPECT_EQ(fixed.graph().output(0).type().tensor_type().shape().dim(1).dim_value(), 10);
}

TEST_F(OnnxExport, EmptyModelIsTheIdentity) {
  Sequential net;
  export_onnx(net, {2, 3}, file("empty.onnx"));
  const onnx::ModelProto m = parse(file("empty.onnx"));
  EXPECT_EQ(op_types(m), (std::vector<std::string>{"Identity"}));
  EXPECT_EQ(m.graph().node(0).input(0), "input");
  EXPECT_EQ(m.graph().node(0).output(0), "output");
}

TEST_F(OnnxExport, UnsupportedLayerIsAnErrorNamingIt) {
  Sequential net;
  net.add<Dense>(4, 4);
  Sequential inner;
  inner.add<ReLU>();
  inner.add("sq", Square());
  net.add("block", std::move(inner));
  minicnn::testing::expect_error_naming([&] { export_onnx(net, {2, 4}, file("bad.onnx")); },
                                        {"export_onnx", "block.sq", "Square", "no ONNX"});
  EXPECT_FALSE(std::filesystem::exists(file("bad.onnx")));
  Square alone;
  minicnn::testing::expect_error_naming([&] { export_onnx(alone, {2, 4}, file("bad.onnx")); },
                                        {"(the model)", "Square"});
}

TEST_F(OnnxExport, BadShapeIsAnErrorFromTheModel) {
  Sequential net = lenet();
  minicnn::testing::expect_error_naming([&] { export_onnx(net, {2, 3, 28, 28}, file("bad.onnx")); },
                                        {"Conv2D", "(2, 3, 28, 28)"});
  minicnn::testing::expect_error_naming([&] { export_onnx(net, {}, file("bad.onnx")); },
                                        {"export_onnx", "batch"});
  minicnn::testing::expect_error_naming(
      [&] { export_onnx(net, {1, 1, 28, 28}, file("bad.onnx"), {.input_name = "x", .output_name = "x"}); },
      {"export_onnx", "names"});
  EXPECT_FALSE(std::filesystem::exists(file("bad.onnx")));
}

namespace {
void fail_before_rename(const std::string&, const std::string&) {
  throw Error("test: the write fails before the rename");
}
}  // namespace

TEST_F(OnnxExport, FailedExportLeavesTheFileThere) {
  const std::string path = file("model.onnx");
  write_bytes(path, "the good file");
  Sequential bad;
  bad.add("sq", Square());
  EXPECT_THROW(export_onnx(bad, {1, 3}, path), Error);
  EXPECT_EQ(read_bytes(path), "the good file");

  // A failure of the write itself, between the complete temporary and the rename.
  Sequential good;
  good.add<Dense>(3, 2);
  set_atomic_write_hook_for_testing(&fail_before_rename);
  EXPECT_THROW(export_onnx(good, {1, 3}, path), Error);
  set_atomic_write_hook_for_testing(nullptr);
  EXPECT_EQ(read_bytes(path), "the good file");
  EXPECT_TRUE(dir_.temp_files().empty());

  export_onnx(good, {1, 3}, path);
  EXPECT_EQ(op_types(parse(path)), (std::vector<std::string>{"Gemm"}));
}
