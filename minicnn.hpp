// minicnn: a minimal CNN framework in C++.
//
//   #include <minicnn/minicnn.hpp>
//   using namespace minicnn;
//
// Tensors are xt::xarray<float> (Tensor), row-major; images are NCHW. Build a model as a
// tree of layers (Sequential, Residual, Concat), run forward on a batch, turn the loss
// gradient back through backward, and let an optimiser step the parameters:
//
//   Sequential net;
//   net.add<Conv2D>(1, 20, 5);  net.add<MaxPool2D>(2);  net.add<ReLU>();
//   net.add<Flatten>();         net.add<Dense>(20 * 12 * 12, 10);
//   SGD opt(net.parameters(), {.lr = 0.01f, .momentum = 0.9f});
//   auto [loss, dlogits] = softmax_cross_entropy(net.forward(x), labels);
//   net.zero_grad();  net.backward(dlogits);  opt.step();
//
// Every layer is also usable on its own (Conv2D conv(1, 20, 5); conv.forward(x)), and
// the convolution algorithms are plain functions in layers/conv/. Any misuse throws
// minicnn::Error naming the layer and the shapes or values involved.
#pragma once

// core: numeric primitives
#include "core/version.hpp"
#include "core/tensor.hpp"
#include "core/blas.hpp"
#include "core/heap.hpp"
#include "core/fft.hpp"
#include "core/ops.hpp"
#include "core/random.hpp"
#include "core/buffer.hpp"

// layers: the Layer contract, the containers, the layers, the conv algorithms
#include "layers/layer.hpp"
#include "layers/container.hpp"
#include "layers/sequential.hpp"
#include "layers/residual.hpp"
#include "layers/concat.hpp"
#include "layers/conv_layer.hpp"
#include "layers/conv2d.hpp"
#include "layers/conv_transpose2d.hpp"
#include "layers/conv/geometry.hpp"
#include "layers/conv/dispatch.hpp"
#include "layers/conv/depthwise.hpp"
#include "layers/conv/direct.hpp"
#include "layers/conv/im2col.hpp"
#include "layers/conv/im2col_gemm.hpp"
#include "layers/conv/fft.hpp"
#include "layers/conv/winograd.hpp"
#include "layers/conv/select.hpp"
#include "layers/activation.hpp"
#include "layers/pooling.hpp"
#include "layers/dense.hpp"
#include "layers/flatten.hpp"
#include "layers/dropout.hpp"
#include "layers/batchnorm.hpp"
#include "layers/gradcheck.hpp"

// data: datasets and batches
#include "data/idx.hpp"
#include "data/mnist.hpp"
#include "data/augment.hpp"
#include "data/prefetch.hpp"
#include "data/image_folder.hpp"

// io: files and formats
#include "io/file.hpp"
#include "io/safetensors.hpp"
#include "io/image.hpp"

// train: losses, optimisers, schedules, metrics, checkpoints, the training loop
#include "train/loss.hpp"
#include "train/optimizer.hpp"
#include "train/schedule.hpp"
#include "train/metrics.hpp"
#include "train/progress.hpp"
#include "train/checkpoint.hpp"
#include "train/fit.hpp"
