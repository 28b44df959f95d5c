// The models of the checkpoints kept under tests/data/checkpoints/: written once by
// tests/tools/make_checkpoints.cpp, read back by every later version in
// test_checkpoint_files.cpp. A model here may be extended only in ways that keep its
// keys and shapes: the files are what an older minicnn wrote.
#pragma once

#include <minicnn/layers/activation.hpp>
#include <minicnn/layers/batchnorm.hpp>
#include <minicnn/layers/concat.hpp>
#include <minicnn/layers/conv2d.hpp>
#include <minicnn/layers/dense.hpp>
#include <minicnn/layers/flatten.hpp>
#include <minicnn/layers/pooling.hpp>
#include <minicnn/layers/residual.hpp>
#include <minicnn/layers/sequential.hpp>

#include <string>
#include <utility>
#include <vector>

namespace minicnn::testing {

struct CheckpointModel {
  std::string name;   // <name>.safetensors; the recorded output <name>.expected.safetensors
  Shape input_shape;  // of the recorded input
  Sequential (*make)();
};

// LeNet in small: (N, 1, 12, 12) -> (N, 10).
inline Sequential small_lenet() {
  Sequential net;
  net.add(Conv2D(1, 4, 5));
  net.add(MaxPool2D(2));
  net.add(ReLU());
  net.add(Conv2D(4, 6, 3));
  net.add(ReLU());
  net.add(Flatten());
  net.add(Dense(6 * 2 * 2, 10));
  return net;
}

// Conv2D, BatchNorm2D (running statistics and num_batches_tracked), Dense:
// (N, 1, 6, 6) -> (N, 4).
inline Sequential conv_batchnorm() {
  Sequential net;
  net.add(Conv2D(1, 3, 3, {.padding = 1, .bias = false}));
  net.add(BatchNorm2D(3));
  net.add(ReLU());
  net.add(Flatten());
  net.add(Dense(3 * 6 * 6, 4));
  return net;
}

// Named and nested containers: a stem, a residual block with a projection, two
// concatenated heads, a classifier: (N, 2, 8, 8) -> (N, 5). Keys such as
// "block.conv1.weight", "block.downsample.1.num_batches_tracked", "heads.wide.0.bias".
inline Sequential nested_containers() {
  Sequential stem;
  stem.add(Conv2D(2, 4, 3, {.padding = 1}));
  stem.add(BatchNorm2D(4));
  stem.add(ReLU());
  Sequential body;
  body.add("conv1", Conv2D(4, 6, 3, {.stride = 2, .padding = 1, .bias = false}));
  body.add("bn1", BatchNorm2D(6));
  body.add("relu", ReLU());
  body.add("conv2", Conv2D(6, 6, 3, {.padding = 1, .bias = false}));
  body.add("bn2", BatchNorm2D(6));
  Sequential down;
  down.add(Conv2D(4, 6, 1, {.stride = 2, .bias = false}));
  down.add(BatchNorm2D(6));
  Concat heads;
  heads.add("narrow", Conv2D(6, 2, 1));
  Sequential wide;
  wide.add(Conv2D(6, 3, 3, {.padding = 1}));
  wide.add(ReLU());
  heads.add("wide", std::move(wide));
  Sequential net;
  net.add("stem", std::move(stem));
  net.add("block", Residual(std::move(body), std::move(down), ReLU()));
  net.add("heads", std::move(heads));
  net.add("pool", MaxPool2D(2));
  net.add("flatten", Flatten());
  net.add("fc", Dense(5 * 2 * 2, 5));
  return net;
}

inline const std::vector<CheckpointModel>& checkpoint_models() {
  static const std::vector<CheckpointModel> models = {
      {"small_lenet", {3, 1, 12, 12}, small_lenet},
      {"conv_batchnorm", {3, 1, 6, 6}, conv_batchnorm},
      {"nested_containers", {2, 2, 8, 8}, nested_containers}};
  return models;
}

}  // namespace minicnn::testing
