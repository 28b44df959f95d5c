// The safetensors file format on named float32 tensors, independent of layers (see
// train/checkpoint.hpp for saving and loading a model).
//
// A file is
//   8 bytes   N, the header length, unsigned little-endian
//   N bytes   a JSON object: for each tensor
//               "name": {"dtype": "F32", "shape": [d0, d1, ...], "data_offsets": [b, e]}
//             and optionally "__metadata__": {"key": "value", ...} (strings only);
//             padded with spaces so the data starts at a multiple of 8 bytes
//   the rest  the tensors' bytes, row-major little-endian float32; tensor "name" is
//             bytes [b, e) of this section, and the tensors tile it with no gap or overlap
// as written by the reference implementation (huggingface/safetensors), so the files
// open with safetensors.torch.load_file and the like.
//
// save_safetensors writes a temporary file beside the target and renames it over the
// target only once everything is written: a failed save throws Error and leaves an
// existing file as it was. read_safetensors validates the whole header before reading
// any data; every fault throws Error naming the file and the first thing wrong.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "../core/tensor.hpp"

namespace minicnn {

// Names and tensors to save, in the order their data is laid out in the file.
using TensorRefs = std::vector<std::pair<std::string, const Tensor*>>;
using SafetensorsMetadata = std::map<std::string, std::string>;

// Names must be unique, non-empty and not "__metadata__"; pointers non-null.
void save_safetensors(const TensorRefs& tensors, const std::string& path,
                      const SafetensorsMetadata& metadata = {});

// Every tensor of the file by name. Only dtype F32 is supported. When metadata is
// given it receives the "__metadata__" entries (empty when there are none).
std::map<std::string, Tensor> read_safetensors(const std::string& path,
                                               SafetensorsMetadata* metadata = nullptr);

}  // namespace minicnn
