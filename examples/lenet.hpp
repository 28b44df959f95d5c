// LeNet as the MNIST examples train it, shared by mnist_lenet (which trains and saves
// it), predict (which loads the checkpoint into the same model) and bench/train_lenet.
//
//   x (N, 1, 28, 28)
//   Conv2D(1→20, 5×5)    (N, 20, 24, 24)
//   MaxPool2D(2)         (N, 20, 12, 12)
//   Conv2D(20→50, 5×5)   (N, 50, 8, 8)
//   MaxPool2D(2)         (N, 50, 4, 4)
//   Flatten              (N, 800)
//   Dense(800→500)       (N, 500)
//   ReLU
//   Dense(500→10)        (N, 10) logits
//
// Caffe's LeNet (examples/mnist/lenet_train_test.prototxt). A ReLU after each pool as
// well made no difference worth its time: 99.29% against 99.27% without, trained the
// same way for 12 epochs, and 4% of a training step. Checkpoint keys: "0.weight",
// "0.bias", "2.weight", "2.bias", "5.weight", "5.bias", "7.weight", "7.bias", those of
// the same model as a PyTorch nn.Sequential.
#pragma once

#include <cmath>
#include <minicnn/minicnn.hpp>

namespace lenet {

// Inputs are normalised with MNIST's training mean and standard deviation; predict
// must do the same to images it classifies.
inline minicnn::Normalization normalization() { return minicnn::Normalization::mnist(); }

inline minicnn::Sequential make_model(minicnn::ConvAlgo algo = minicnn::ConvAlgo::Auto) {
  using namespace minicnn;
  Sequential net;
  net.add<Conv2D>(/*in=*/1, /*out=*/20, /*kernel=*/5, Conv2DOptions{.algo = algo});
  net.add<MaxPool2D>(/*kernel=*/2);
  net.add<Conv2D>(/*in=*/20, /*out=*/50, /*kernel=*/5, Conv2DOptions{.algo = algo});
  net.add<MaxPool2D>(/*kernel=*/2);
  net.add<Flatten>();
  net.add<Dense>(/*in=*/50 * 4 * 4, /*out=*/500);
  net.add<ReLU>();
  net.add<Dense>(/*in=*/500, /*out=*/10);
  // LeCun-normal weights, N(0, 1/fan_in), as Caffe's "xavier" filler gives LeNet: the
  // layers' default He-normal (twice the variance) starts this model with logits in
  // the tens and a loss near 8, and its first steps at lr >= 0.02 blow up.
  for (Parameter& p : net.parameters()) {
    if (!p.name.ends_with("weight")) continue;
    const std::size_t fan_in = p.value->size() / p.value->shape()[0];
    fill_normal(*p.value, /*mean=*/0.0f, /*stddev=*/1.0f / std::sqrt(float(fan_in)));
  }
  return net;
}

}  // namespace lenet
