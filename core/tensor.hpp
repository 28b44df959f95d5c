// Tensor, Shape and Error: what every part of minicnn stands on.
//
// Tensor is xt::xarray<float>, row-major. Images are NCHW, features (N, F).
// Every misuse throws minicnn::Error with a message that names who complained and
// what was expected against what came.
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <xtensor/xarray.hpp>

namespace minicnn {

using Tensor = xt::xarray<float>;
using Shape = std::vector<std::size_t>;
// Class labels, one per image of a batch or dataset, each in [0, num_classes).
using Labels = std::vector<std::size_t>;

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A named tensor of a layer and its gradient, as layers hand them to optimisers and
// checkpoints. Buffers (state saved with a model but not trained, such as
// BatchNorm's running statistics) have grad == nullptr.
//
// A buffer may be one int64 instead (BatchNorm2D's num_batches_tracked: a count, which a
// float would round above 2^24). Then int64 points at the layer's count, the state
// itself, and checkpoints save and load it as a 0-d I64 tensor, as PyTorch does. value
// still points at a 0-d tensor, the count as a float, which the layer refreshes each
// time it lists its buffers, so that code which treats every buffer as floats (the
// summary's count, a copy for comparison) keeps working; writing it changes nothing.
// The record carries the int64 because it is what names a layer's state along its path
// in the tree (Container::buffers) on its way to a checkpoint.
struct Parameter {
  std::string name;
  Tensor* value = nullptr;
  Tensor* grad = nullptr;
  std::int64_t* int64 = nullptr;
};

// "(64, 1, 28, 28)"
std::string to_string(const Shape& s);
// A number as the short text that error messages show: 0.1 -> "0.1", 1e-05 -> "1e-05".
std::string format_float(double v);
Shape shape_of(const Tensor& t);
std::size_t numel(const Shape& s);

// The element count of shape s; throws Error naming `who` when it overflows, or
// exceeds kMaxElements (2^40: 4 TiB of floats, more than any machine can allocate).
inline constexpr std::size_t kMaxElements = std::size_t{1} << 40;
std::size_t checked_numel(const Shape& s, std::string_view who);
// a·b, or Error naming `who` and `what` when it overflows or exceeds kMaxElements.
std::size_t checked_mul(std::size_t a, std::size_t b, std::string_view who, std::string_view what);

// A zero-filled tensor of the given shape. Throws Error naming `who`, the shape and the
// bytes when the size overflows or the memory cannot be had (never std::bad_alloc).
Tensor zeros(const Shape& s, std::string_view who = "zeros");

// Throw Error("<who>: expected <what> of rank R, got (..)") when t has another rank.
void check_rank(const Tensor& t, std::size_t rank, std::string_view who,
                std::string_view what = "input");
// Throw Error("<who>: expected <what> of shape (..), got (..)") when the shapes differ.
void check_shape(const Shape& actual, const Shape& expected, std::string_view who,
                 std::string_view what = "input");
// Throw Error("<who>: <what> must be <cond>, got <value>") unless ok.
void check_arg(bool ok, std::string_view who, std::string_view what, std::string_view cond,
               const std::string& value);
// Throw Error("<who>: <what> must be finite and >= 0, got <v>") unless it is.
void check_non_negative(double v, std::string_view who, std::string_view what);

}  // namespace minicnn
