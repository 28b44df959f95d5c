// export_onnx: the layer tree walked depth first, each layer appending its nodes and
// initializers to one onnx::GraphProto (Debian's generated protobuf classes), then the
// model serialised and written atomically.
#include "export.hpp"

#include <onnx/onnx_pb.h>

#include <climits>
#include <cstddef>
#include <initializer_list>
#include <set>
#include <string>
#include <vector>

#include "../io/file.hpp"
#include "../layers/activation.hpp"
#include "../layers/batchnorm.hpp"
#include "../layers/concat.hpp"
#include "../layers/conv2d.hpp"
#include "../layers/conv_transpose2d.hpp"
#include "../layers/dense.hpp"
#include "../layers/dropout.hpp"
#include "../layers/flatten.hpp"
#include "../layers/pooling.hpp"
#include "../layers/residual.hpp"
#include "../layers/sequential.hpp"

namespace minicnn {
namespace {

constexpr const char* kWho = "export_onnx";
// Opset 13 goes with IR version 7 (onnx/helper.py's table of releases).
constexpr std::int64_t kIrVersion = 7;
constexpr const char* kKnownLayers =
    "Conv2D, ConvTranspose2D, BatchNorm2D, Dense, ReLU, LeakyReLU, Sigmoid, Tanh, Softmax, "
    "MaxPool2D, AvgPool2D, GlobalAvgPool2D, Flatten, Dropout, Sequential, Residual, Concat";

// The `group` attribute of a convolution: the layer's `groups`. The weights are then
// (K, C/group, KH, KW) for Conv and (C_in, C_out/group, KH, KW) for ConvTranspose,
// ONNX's layouts as well as minicnn's.
template <class Options>
std::int64_t conv_groups(const Options& opt) {
  return static_cast<std::int64_t>(opt.groups);
}

// "a.b" from path "a" and name "b"; the name alone at the root.
std::string join(const std::string& path, const std::string& name) {
  if (path.empty()) return name;
  if (name.empty()) return path;
  return path + "." + name;
}

// The graph under construction, with the names it has used.
class GraphWriter {
 public:
  GraphWriter(onnx::GraphProto& graph, const std::string& input, const std::string& output)
      : graph_(graph), used_{input, output} {}

  // Appends a node of op_type reading inputs; its name and its one output are `name`
  // (made unique). Returns the node.
  onnx::NodeProto& node(const std::string& op_type, const std::string& name,
                        std::initializer_list<std::string> inputs) {
    onnx::NodeProto& n = *graph_.add_node();
    n.set_op_type(op_type);
    const std::string out = unique(name);
    n.set_name(out);
    for (const std::string& in : inputs) n.add_input(in);
    n.add_output(out);
    return n;
  }
  // The node's output, its only one.
  static const std::string& out(const onnx::NodeProto& n) { return n.output(0); }

  // Stores t (float, its own shape) as an initializer named `name`; returns the name.
  std::string initializer(const std::string& name, const Tensor& t) {
    onnx::TensorProto& p = *graph_.add_initializer();
    const std::string unique_name = unique(name);
    p.set_name(unique_name);
    p.set_data_type(onnx::TensorProto::FLOAT);
    for (std::size_t d : t.shape()) p.add_dims(static_cast<std::int64_t>(d));
    p.mutable_float_data()->Add(t.data(), t.data() + t.size());
    return unique_name;
  }

  static void attr(onnx::NodeProto& n, const std::string& name, std::int64_t v) {
    onnx::AttributeProto& a = *n.add_attribute();
    a.set_name(name);
    a.set_type(onnx::AttributeProto::INT);
    a.set_i(v);
  }
  static void attr(onnx::NodeProto& n, const std::string& name, float v) {
    onnx::AttributeProto& a = *n.add_attribute();
    a.set_name(name);
    a.set_type(onnx::AttributeProto::FLOAT);
    a.set_f(v);
  }
  static void attr(onnx::NodeProto& n, const std::string& name, std::vector<std::int64_t> v) {
    onnx::AttributeProto& a = *n.add_attribute();
    a.set_name(name);
    a.set_type(onnx::AttributeProto::INTS);
    for (std::int64_t x : v) a.add_ints(x);
  }

  // Renames the output of the node that produces value to `name` (the graph's output),
  // or appends an Identity from value when no node does (a model that computes nothing).
  void finish(const std::string& value, const std::string& name) {
    for (int i = graph_.node_size() - 1; i >= 0; --i) {
      onnx::NodeProto& n = *graph_.mutable_node(i);
      if (n.output(0) == value) {
        n.set_output(0, name);
        return;
      }
    }
    onnx::NodeProto& n = *graph_.add_node();
    n.set_op_type("Identity");
    n.set_name(name);
    n.add_input(value);
    n.add_output(name);
  }

 private:
  // name, or name_1, name_2, ... when it was taken; empty becomes "node".
  std::string unique(const std::string& name) {
    const std::string base = name.empty() ? "node" : name;
    std::string candidate = base;
    for (std::size_t i = 1; used_.count(candidate) != 0; ++i) candidate = base + "_" + std::to_string(i);
    used_.insert(candidate);
    return candidate;
  }

  onnx::GraphProto& graph_;
  std::set<std::string> used_;
};

// The attributes Conv and ConvTranspose share. weight is (K, C/group, KH, KW) for Conv
// and (C_in, C_out/group, KH, KW) for ConvTranspose: either way the kernel is its last two
// axes, and ONNX's layout is PyTorch's.
template <class Options>
void conv_attributes(onnx::NodeProto& n, const Tensor& weight, const Options& o) {
  const auto s = static_cast<std::int64_t>(o.stride), p = static_cast<std::int64_t>(o.padding),
             d = static_cast<std::int64_t>(o.dilation);
  GraphWriter::attr(n, "kernel_shape", {static_cast<std::int64_t>(weight.shape()[2]),
                                        static_cast<std::int64_t>(weight.shape()[3])});
  GraphWriter::attr(n, "strides", {s, s});
  GraphWriter::attr(n, "pads", {p, p, p, p});  // top, left, bottom, right
  GraphWriter::attr(n, "dilations", {d, d});
  GraphWriter::attr(n, "group", conv_groups(o));
}

// A MaxPool or AveragePool node with the window of pool: square, the same stride and
// padding on both axes, floor rounding (ceil_mode 0, ONNX's default).
onnx::NodeProto& pool_node(GraphWriter& g, const char* op, const std::string& name,
                           const std::string& x, const Pool2D& pool) {
  onnx::NodeProto& n = g.node(op, name, {x});
  const auto k = static_cast<std::int64_t>(pool.kernel()), s = static_cast<std::int64_t>(pool.stride()),
             p = static_cast<std::int64_t>(pool.padding());
  GraphWriter::attr(n, "kernel_shape", {k, k});
  GraphWriter::attr(n, "strides", {s, s});
  GraphWriter::attr(n, "pads", {p, p, p, p});
  return n;
}

// Appends the nodes of layer (at path in the tree) reading value x; returns the value
// that holds its output.
std::string emit(Layer& layer, const std::string& path, const std::string& x, GraphWriter& g) {
  // Containers first: their children are walked with their own paths.
  if (auto* seq = dynamic_cast<Sequential*>(&layer)) {
    std::string v = x;
    for (std::size_t i = 0; i < seq->size(); ++i)
      v = emit((*seq)[i], join(path, seq->child_name(i)), v, g);
    return v;
  }
  if (auto* res = dynamic_cast<Residual*>(&layer)) {
    // s = body(x) + shortcut(x), y = act(s). The body is transparent: its layers carry the
    // block's path; the others are named children.
    const std::string body = emit(res->body(), join(path, res->child_name(0)), x, g);
    const std::string shortcut =
        res->shortcut() ? emit(*res->shortcut(), join(path, res->child_name(1)), x, g) : x;
    const std::string sum = GraphWriter::out(g.node("Add", join(path, "add"), {body, shortcut}));
    if (Layer* act = res->activation())
      return emit(*act, join(path, res->child_name(res->size() - 1)), sum, g);
    return sum;
  }
  if (auto* cat = dynamic_cast<Concat*>(&layer)) {
    std::vector<std::string> branches;
    for (std::size_t i = 0; i < cat->size(); ++i)
      branches.push_back(emit((*cat)[i], join(path, cat->child_name(i)), x, g));
    onnx::NodeProto& n = g.node("Concat", join(path, "concat"), {});
    for (const std::string& b : branches) n.add_input(b);
    GraphWriter::attr(n, "axis", std::int64_t{1});
    return GraphWriter::out(n);
  }

  // Leaves: one node each, named by the layer's path (its operator's at the root).
  const auto name = [&](const char* op) { return path.empty() ? std::string(op) : path; };
  if (auto* conv = dynamic_cast<Conv2D*>(&layer)) {
    const std::string w = g.initializer(join(path, "weight"), conv->weight());
    onnx::NodeProto& n = g.node("Conv", name("Conv"), {x, w});
    if (conv->options().bias) n.add_input(g.initializer(join(path, "bias"), conv->bias()));
    conv_attributes(n, conv->weight(), conv->options());
    return GraphWriter::out(n);
  }
  if (auto* deconv = dynamic_cast<ConvTranspose2D*>(&layer)) {
    const ConvTranspose2DOptions o = deconv->options();
    const std::string w = g.initializer(join(path, "weight"), deconv->weight());
    onnx::NodeProto& n = g.node("ConvTranspose", name("ConvTranspose"), {x, w});
    if (o.bias) n.add_input(g.initializer(join(path, "bias"), deconv->bias()));
    conv_attributes(n, deconv->weight(), o);
    const auto op = static_cast<std::int64_t>(o.output_padding);
    GraphWriter::attr(n, "output_padding", {op, op});
    return GraphWriter::out(n);
  }
  if (auto* bn = dynamic_cast<BatchNorm2D*>(&layer)) {
    // Inference form: y = scale·(x − mean) / sqrt(var + epsilon) + B with the running
    // statistics. momentum is ONNX's weight of the old estimate, PyTorch's 1 − momentum;
    // inference does not read it.
    onnx::NodeProto& n = g.node("BatchNormalization", name("BatchNormalization"),
                                {x, g.initializer(join(path, "weight"), bn->weight()),
                                 g.initializer(join(path, "bias"), bn->bias()),
                                 g.initializer(join(path, "running_mean"), bn->running_mean()),
                                 g.initializer(join(path, "running_var"), bn->running_var())});
    GraphWriter::attr(n, "epsilon", bn->options().eps);
    GraphWriter::attr(n, "momentum", 1.0f - bn->options().momentum);
    return GraphWriter::out(n);
  }
  if (auto* dense = dynamic_cast<Dense*>(&layer)) {
    // Gemm: y = x·Bᵀ + C with B the (out, in) weight as stored.
    const std::string w = g.initializer(join(path, "weight"), dense->weight());
    onnx::NodeProto& n = g.node("Gemm", name("Gemm"), {x, w});
    if (dense->has_bias()) n.add_input(g.initializer(join(path, "bias"), dense->bias()));
    GraphWriter::attr(n, "transB", std::int64_t{1});
    return GraphWriter::out(n);
  }
  if (dynamic_cast<ReLU*>(&layer)) return GraphWriter::out(g.node("Relu", name("Relu"), {x}));
  if (auto* leaky = dynamic_cast<LeakyReLU*>(&layer)) {
    onnx::NodeProto& n = g.node("LeakyRelu", name("LeakyRelu"), {x});
    GraphWriter::attr(n, "alpha", leaky->slope());
    return GraphWriter::out(n);
  }
  if (dynamic_cast<Sigmoid*>(&layer)) return GraphWriter::out(g.node("Sigmoid", name("Sigmoid"), {x}));
  if (dynamic_cast<Tanh*>(&layer)) return GraphWriter::out(g.node("Tanh", name("Tanh"), {x}));
  if (dynamic_cast<Softmax*>(&layer)) {
    onnx::NodeProto& n = g.node("Softmax", name("Softmax"), {x});
    GraphWriter::attr(n, "axis", std::int64_t{1});
    return GraphWriter::out(n);
  }
  if (auto* pool = dynamic_cast<MaxPool2D*>(&layer))
    return GraphWriter::out(pool_node(g, "MaxPool", name("MaxPool"), x, *pool));
  if (auto* pool = dynamic_cast<AvgPool2D*>(&layer)) {
    onnx::NodeProto& n = pool_node(g, "AveragePool", name("AveragePool"), x, *pool);
    // Padding cells are zeros in the divisor, as AvgPool2D counts them.
    GraphWriter::attr(n, "count_include_pad", std::int64_t{1});
    return GraphWriter::out(n);
  }
  if (dynamic_cast<GlobalAvgPool2D*>(&layer))
    return GraphWriter::out(g.node("GlobalAveragePool", name("GlobalAveragePool"), {x}));
  if (dynamic_cast<Flatten*>(&layer)) {
    onnx::NodeProto& n = g.node("Flatten", name("Flatten"), {x});
    GraphWriter::attr(n, "axis", std::int64_t{1});
    return GraphWriter::out(n);
  }
  // Inference drops nothing: eval-mode Dropout passes x on.
  if (dynamic_cast<Dropout*>(&layer)) return GraphWriter::out(g.node("Identity", name("Identity"), {x}));

  throw Error(std::string(kWho) + ": layer '" + (path.empty() ? "(the model)" : path) + "' (" +
              layer.name() + ") has no ONNX counterpart; the exporter knows " + kKnownLayers);
}

// A float tensor of shape s, its axis 0 the symbol "N" when dynamic.
void describe(onnx::ValueInfoProto& v, const std::string& name, const Shape& s, bool dynamic) {
  v.set_name(name);
  onnx::TypeProto::Tensor& t = *v.mutable_type()->mutable_tensor_type();
  t.set_elem_type(onnx::TensorProto::FLOAT);
  onnx::TensorShapeProto& shape = *t.mutable_shape();
  for (std::size_t i = 0; i < s.size(); ++i) {
    onnx::TensorShapeProto::Dimension& d = *shape.add_dim();
    if (i == 0 && dynamic)
      d.set_dim_param("N");
    else
      d.set_dim_value(static_cast<std::int64_t>(s[i]));
  }
}

}  // namespace

void export_onnx(Layer& model, const Shape& input_shape, const std::string& path,
                 const OnnxExportOptions& opt) {
  if (opt.input_name.empty() || opt.output_name.empty() || opt.input_name == opt.output_name)
    throw Error(std::string(kWho) + ": the input and output names must be two different non-empty names, got '" +
                opt.input_name + "' and '" + opt.output_name + "'");
  if (input_shape.empty() || input_shape[0] == 0)
    throw Error(std::string(kWho) + ": the input shape needs a batch axis of at least 1, got " +
                to_string(input_shape));
  // The model's own check of the shape, with its message, before anything is written.
  const Shape output_shape = model.output_shape(input_shape);

  onnx::ModelProto m;
  m.set_ir_version(kIrVersion);
  m.set_producer_name("minicnn");
  m.set_producer_version(MINICNN_VERSION);
  onnx::OperatorSetIdProto& opset = *m.add_opset_import();
  opset.set_domain("");  // the default operator set, ai.onnx
  opset.set_version(kOnnxOpset);

  onnx::GraphProto& graph = *m.mutable_graph();
  graph.set_name(opt.graph_name);
  describe(*graph.add_input(), opt.input_name, input_shape, opt.dynamic_batch);
  describe(*graph.add_output(), opt.output_name, output_shape, opt.dynamic_batch);
  GraphWriter g(graph, opt.input_name, opt.output_name);
  g.finish(emit(model, "", opt.input_name, g), opt.output_name);

  // A protobuf message is at most 2 GiB; ONNX keeps larger weights in files of their own,
  // which this exporter does not write.
  const std::size_t bytes = m.ByteSizeLong();
  if (bytes > static_cast<std::size_t>(INT_MAX))
    throw Error(std::string(kWho) + ": " + path + ": the model needs " + std::to_string(bytes) +
                " bytes, more than the 2 GiB an ONNX file without external data can hold");
  std::string data;
  if (!m.SerializeToString(&data))
    throw Error(std::string(kWho) + ": " + path + ": the model could not be serialised");
  write_file_atomic(path, data, kWho);
}

}  // namespace minicnn
