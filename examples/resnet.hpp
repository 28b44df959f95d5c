// ResNet-20 as torchvision names a ResNet's parts, shared by fashion_resnet (which trains
// it) and the tests that export and compare it.
//
// ResNet-20 (He et al. 2016, the CIFAR variant): a 3×3 stem of 16 channels with batch
// norm and ReLU, three stages of three BasicBlocks (16, 32, 64 channels; the second and
// third stages start with stride 2 and a projection shortcut), global average pooling
// and a Dense layer. Its parameters and buffers carry PyTorch's state_dict keys:
// conv1.weight, bn1.running_mean, layer1.0.conv1.weight, layer2.0.downsample.0.weight,
// layer2.0.downsample.1.num_batches_tracked, ..., fc.bias.
#pragma once

#include <minicnn/minicnn.hpp>

#include <cstddef>
#include <string>
#include <utility>

namespace resnet {

// torchvision's BasicBlock: 3×3 conv (the given stride), BN, ReLU, 3×3 conv, BN, plus the
// shortcut (a strided 1×1 conv and BN, "downsample", when the shape changes, else the
// identity), then ReLU.
inline minicnn::Residual basic_block(std::size_t in, std::size_t out, std::size_t stride) {
  using namespace minicnn;
  Sequential body;
  body.add("conv1", Conv2D(in, out, /*kernel=*/3, {.stride = stride, .padding = 1, .bias = false}));
  body.add("bn1", BatchNorm2D(out));
  body.add("relu", ReLU());
  body.add("conv2", Conv2D(out, out, /*kernel=*/3, {.padding = 1, .bias = false}));
  body.add("bn2", BatchNorm2D(out));
  if (stride == 1 && in == out) return Residual(own(std::move(body)), nullptr, own(ReLU()));
  Sequential downsample;
  downsample.add(Conv2D(in, out, /*kernel=*/1, {.stride = stride, .bias = false}));
  downsample.add(BatchNorm2D(out));
  return Residual(std::move(body), std::move(downsample), ReLU());
}

inline minicnn::Sequential resnet20(std::size_t in_channels, std::size_t classes) {
  using namespace minicnn;
  Sequential net;
  net.add("conv1", Conv2D(in_channels, 16, /*kernel=*/3, {.padding = 1, .bias = false}));
  net.add("bn1", BatchNorm2D(16));
  net.add("relu", ReLU());
  std::size_t in = 16;
  for (std::size_t stage = 0; stage < 3; ++stage) {
    const std::size_t out = std::size_t{16} << stage;
    Sequential layer;
    for (std::size_t b = 0; b < 3; ++b) {
      layer.add(basic_block(in, out, stage > 0 && b == 0 ? 2 : 1));
      in = out;
    }
    net.add("layer" + std::to_string(stage + 1), std::move(layer));
  }
  net.add("avgpool", GlobalAvgPool2D());
  net.add("flatten", Flatten());
  net.add("fc", Dense(64, classes));
  return net;
}

}  // namespace resnet
