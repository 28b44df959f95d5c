// Checkpoints: a model's parameters and buffers as a safetensors file.
//
//   save_safetensors(net, "lenet.safetensors");
//   load_safetensors(net, "lenet.safetensors");
//
// The tensors are model.parameters() followed by model.buffers(), under their names
// ("0.weight", "0.bias", ... for a Sequential, as PyTorch's state_dict), in that order
// in the file, with the metadata {"format": "pt"}. Gradients and optimiser state are
// not saved.
//
// load_safetensors reads the whole file and checks it against the model before it
// changes anything: every name the model expects is present, no name is left over, and
// every shape matches. The first mismatch throws Error naming the file and the tensor
// ("missing tensor '3.bias'", "unexpected tensor '5.weight'", "shape of '0.weight' is
// (20, 1, 3, 3), expected (20, 1, 5, 5)"), and the model is left as it was. The values
// are copied into the model's existing tensors, which keep their storage.
#pragma once

#include <string>

#include "../layers/layer.hpp"

namespace minicnn {

void save_safetensors(Layer& model, const std::string& path);
void load_safetensors(Layer& model, const std::string& path);

}  // namespace minicnn
