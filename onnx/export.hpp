// minicnn::onnx — a trained model written as an ONNX file for inference elsewhere
// (ONNX Runtime, OpenCV's dnn, TensorRT, ...). An optional part of its own (target
// minicnn::onnx, CMake option MINICNN_BUILD_ONNX), built on Debian's ONNX protobuf
// classes (libonnx-dev); the core library does not link protobuf.
//
//   #include <minicnn/onnx/export.hpp>
//
//   Sequential net = ...;  // trained
//   export_onnx(net, /*input_shape=*/{1, 1, 28, 28}, "lenet.onnx");
//
// The file is one opset-13 model whose weights are inside it (initializers, named by their
// state_dict path: "0.weight", "layer1.0.bn1.running_mean"). It computes what the model
// computes in eval mode, whatever mode it is in: BatchNorm2D with its running statistics,
// Dropout as the identity. The layer tree maps to operators as follows:
//
//   Conv2D            Conv (kernel_shape, strides, pads, dilations, group)
//   ConvTranspose2D   ConvTranspose (the same, and output_padding)
//   BatchNorm2D       BatchNormalization (epsilon; mean and var the running statistics)
//   Dense             Gemm (transB = 1: the weight stays (out, in))
//   ReLU LeakyReLU Sigmoid Tanh Softmax    Relu LeakyRelu (alpha) Sigmoid Tanh Softmax (axis 1)
//   MaxPool2D AvgPool2D GlobalAvgPool2D    MaxPool AveragePool (count_include_pad = 1)
//                                          GlobalAveragePool
//   Flatten           Flatten (axis 1)
//   Dropout           Identity
//   Sequential        its children in order (an empty one: nothing)
//   Residual          body and shortcut, Add, then the activation if there is one
//   Concat            the branches on the same input, Concat (axis 1)
//
// Any other layer (one of your own) throws Error naming its path in the tree and its
// name(). So does an input shape the model does not take. Nodes are named by the path of
// their layer. The file is written through write_file_atomic: a failed export leaves a
// file already at path as it was.
#pragma once

#include <cstdint>
#include <string>

#include "../core/tensor.hpp"
#include "../layers/layer.hpp"

namespace minicnn {

// The ONNX operator set the exported files declare.
inline constexpr std::int64_t kOnnxOpset = 13;

struct OnnxExportOptions {
  // The graph's input and output names.
  std::string input_name = "input", output_name = "output";
  // The batch axis as the symbol "N" (any batch size); false: input_shape[0] fixed.
  bool dynamic_batch = true;
  std::string graph_name = "minicnn";
};

// Writes model as an ONNX file at path, for inputs of input_shape (its batch size is an
// example unless dynamic_batch is false). Throws Error naming the layer that has no ONNX
// counterpart, on a shape the model does not take (as model.output_shape does), or when
// the file cannot be written; path is then untouched.
void export_onnx(Layer& model, const Shape& input_shape, const std::string& path,
                 const OnnxExportOptions& opt = {});

}  // namespace minicnn
