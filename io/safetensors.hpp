// The safetensors file format on named tensors, independent of layers (see
// train/checkpoint.hpp for saving and loading a model).
//
// A file is
//   8 bytes   N, the header length, unsigned little-endian
//   N bytes   a JSON object: for each tensor
//               "name": {"dtype": "F32", "shape": [d0, d1, ...], "data_offsets": [b, e]}
//             and optionally "__metadata__": {"key": "value", ...} (strings only);
//             padded with spaces so the data starts at a multiple of 8 bytes
//   the rest  the tensors' bytes, row-major little-endian; tensor "name" is bytes [b, e)
//             of this section, and the tensors tile it with no gap or overlap
// as written by the reference implementation (huggingface/safetensors), so the files
// open with safetensors.torch.load_file and the like.
//
// dtypes: minicnn writes F32 (float tensors) and I64 (integer buffers such as
// BatchNorm's num_batches_tracked), and reads F32, F16, BF16 and I64. A Tensor holds
// floats, so an I64 tensor is read into int64s of its own (StoredTensor::ints) rather
// than into a Tensor, where a count above 2^24 would be rounded; F16 and BF16 values
// become floats, exactly (every half and bfloat16 value is a float, NaN, infinities and
// subnormals included). Any other dtype (F64, I32, U8, BOOL, ...) is an Error naming the
// file, the tensor and the dtype.
//
// save_safetensors writes a temporary file beside the target and renames it over the
// target only once everything is written: a failed save throws Error and leaves an
// existing file as it was. read_safetensors validates the whole header before reading
// any data; every fault throws Error naming the file and the first thing wrong.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "../core/tensor.hpp"

namespace minicnn {

// The element types minicnn reads, as the header spells them.
enum class DType { F32, F16, BF16, I64 };
// "F32", "F16", "BF16", "I64"
std::string_view dtype_name(DType d);
// Bytes per element: 4, 2, 2, 8.
std::size_t dtype_size(DType d);

// The exact float of an IEEE half (1 sign, 5 exponent, 10 mantissa bits) and of a
// bfloat16 (the high 16 bits of a float).
float f16_to_float(std::uint16_t bits);
float bf16_to_float(std::uint16_t bits);

// One tensor to save: float32 values from a Tensor, or int64 values with a shape (a
// count, say: one value, shape {}).
struct TensorRef {
  TensorRef(std::string name, const Tensor* values);  // F32, the tensor's shape
  TensorRef(std::string name, const std::int64_t* values, Shape shape);  // I64

  std::string name;
  const Tensor* f32 = nullptr;
  const std::int64_t* i64 = nullptr;
  Shape shape;  // of i64
};
// The tensors to save, in the order their data is laid out in the file.
using TensorRefs = std::vector<TensorRef>;
using SafetensorsMetadata = std::map<std::string, std::string>;

// Names must be unique, non-empty and not "__metadata__"; pointers non-null.
void save_safetensors(const TensorRefs& tensors, const std::string& path,
                      const SafetensorsMetadata& metadata = {});

// One tensor as read from a file.
struct StoredTensor {
  DType dtype = DType::F32;        // as in the file
  Shape shape;                     // as in the file
  Tensor values;                   // F32, F16, BF16: the values as floats, of that shape
  std::vector<std::int64_t> ints;  // I64: the values, row-major (values is then empty)
};

// Every tensor of the file by name. When metadata is given it receives the
// "__metadata__" entries (empty when there are none).
std::map<std::string, StoredTensor> read_safetensors(const std::string& path,
                                                     SafetensorsMetadata* metadata = nullptr);

}  // namespace minicnn
