// The Layer interface: the contract every module of minicnn keeps, written once here and
// enforced by this base class.
//
// A layer maps x to y = f(x; θ) in forward and, given dL/dy, returns dL/dx from
// backward while adding dL/dθ into the gradients of its parameters. What a gradient
// means, and what check_gradients tests: for any g of y's shape, with L = Σ y⊙g,
//   backward(g) returns dx with  Σ dx⊙δx ≈ L(x + δx) − L(x)  for small δx, and adds
//   into the gradient of every parameter θ the dθ with  Σ dθ⊙δθ ≈ L(θ + δθ) − L(θ).
// The contract:
//   - forward in eval mode writes nothing of the layer's, so that many threads may run
//     one model at once (a layer's forward_impl keeps to this: what it must cache, it
//     guards, as ConvLayer does its plans and workspaces).
//   - backward refers to the latest forward. In training mode forward keeps in saved()
//     what backward needs; in eval mode it keeps nothing. backward throws Error, naming
//     the layer, when there is no such forward, when set_training, set_needs_input_grad
//     or a setting of the layer's own (Conv2D::set_algo) changed since, or when dy's
//     shape is not the shape forward returned. backward may be called again for the
//     same forward (with another dy): the parameter gradients add up.
//   - parameter gradients accumulate over backward calls until zero_grad().
//   - backward returns the input gradient as a fresh tensor of the input's shape, or no
//     tensor at all when the layer was told (set_needs_input_grad(false)) that nobody
//     needs it, which saves the work: an InputGrad, below.
//   - every misuse throws minicnn::Error naming the layer and the shapes or values.
//
// A new layer overrides forward_impl, backward_impl, output_shape and name, and
// parameters() if it has any (examples/custom_layer writes one); the checks and the
// bookkeeping above are this class's.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "../core/tensor.hpp"

namespace minicnn {

// What a layer keeps from a training-mode forward for its backward: one per layer,
// owned by Layer. forward_impl fills what its backward_impl reads; the memory is
// reused from one forward to the next.
struct Saved {
  Shape x_shape, y_shape;             // set by Layer::forward
  Tensor x;                           // the input (Dense, Conv2D, ReLU, LeakyReLU, BatchNorm2D)
  Tensor y;                           // the output (Sigmoid, Tanh, Softmax)
  Tensor aux;                         // one more (Dropout's mask, Conv2D's weights
                                      // as forward saw them)
  std::vector<float> per_channel;     // (BatchNorm2D's mean and 1/σ, and γ and β with a ReLU)
  std::vector<std::uint32_t> index;   // (MaxPool2D's argmax)
};

// What backward returns: dL/dx, or nothing when the layer was told nobody needs it.
// It reads as the tensor (Tensor dx = layer.backward(dy)), and as an optional
// (has_value(), *g); taking the tensor of an empty one throws Error instead of
// handing out a tensor that is not the gradient.
class InputGrad {
 public:
  InputGrad() = default;  // no gradient
  InputGrad(Tensor dx) : dx_(std::move(dx)) {}  // NOLINT: a gradient is an InputGrad

  bool has_value() const { return dx_.has_value(); }
  explicit operator bool() const { return has_value(); }
  // The gradient; throws Error when there is none.
  Tensor& value();
  const Tensor& value() const;
  Tensor& operator*() { return value(); }
  const Tensor& operator*() const { return value(); }
  Tensor* operator->() { return &value(); }
  const Tensor* operator->() const { return &value(); }
  operator Tensor() && { return std::move(value()); }  // NOLINT: reads as the tensor
  operator const Tensor&() const& { return value(); }   // NOLINT

 private:
  std::optional<Tensor> dx_;
};

class Layer {
 public:
  virtual ~Layer() = default;

  // y = f(x); in training mode keeps what backward needs.
  Tensor forward(const Tensor& x);
  // The same for an input the caller gives up (a temporary, or std::move of its own):
  // a layer that keeps its input for backward keeps this one instead of a copy, and a
  // container hands it on to its first child. Sequential feeds its children so.
  Tensor forward(Tensor&& x);
  // dL/dx for dy = dL/dy of the latest forward (none when !needs_input_grad());
  // adds dL/dθ into the parameter gradients.
  InputGrad backward(const Tensor& dy);

  // Trainable tensors with their gradients; empty for parameter-free layers.
  virtual std::vector<Parameter> parameters() { return {}; }
  // State saved in checkpoints but not trained (grad == nullptr).
  virtual std::vector<Parameter> buffers() { return {}; }

  // The output shape for an input of shape x; throws Error on a shape that does not fit.
  virtual Shape output_shape(const Shape& x) const = 0;
  // Human-readable, with the layer's sizes: "Conv2D(1->20, 5x5, auto)".
  virtual std::string name() const = 0;
  // name() with what depends on the input shape x (Conv2D adds the algorithm each pass
  // runs for x); computes it without running anything.
  virtual std::string name_for(const Shape& x) const;
  // Floating-point operations of one forward pass for an input of shape x (0 if negligible).
  virtual double flops(const Shape& x) const;

  virtual void set_training(bool on);
  bool training() const { return training_; }
  virtual void set_needs_input_grad(bool on);
  bool needs_input_grad() const { return needs_input_grad_; }

  // Sets every parameter gradient to zero.
  void zero_grad();

 protected:
  // y = f(x). Fills saved() with what backward_impl reads when training() (x_shape and
  // y_shape are filled by forward).
  virtual Tensor forward_impl(const Tensor& x) = 0;
  // forward_impl for an input the layer may take, in training mode. By default the input
  // is lent to saved().x, where keep(saved().x, x) finds it already and copies nothing;
  // when forward_impl does not keep it, it is freed on return. Containers override this
  // to hand the input on.
  virtual Tensor forward_owned_impl(Tensor&& x);
  // Adds dL/dθ into the parameter gradients; writes dL/dx into *dx unless dx is null.
  // *dx arrives shaped as the input, uninitialised, to be overwritten (or replaced by a
  // tensor of that shape). dy's shape has been checked against the output's.
  virtual void backward_impl(const Tensor& dy, Tensor* dx) = 0;

  Saved& saved() { return saved_; }
  const Saved& saved() const { return saved_; }
  // Copies t into slot, reusing slot's memory when the shape is the same; nothing to do
  // when t is the slot (an input forward_owned_impl lent to saved().x).
  void keep(Tensor& slot, const Tensor& t);
  // Makes the next backward throw until a new forward: `what` changed (say "set_algo").
  void forget_saved(const std::string& what);

  bool training_ = true;
  bool needs_input_grad_ = true;

 private:
  // forward's work and its bookkeeping; `owned` is x when the caller gave it up, else null.
  Tensor forward_tracked(const Tensor& x, Tensor* owned);

  Saved saved_;
  bool saved_valid_ = false;
  bool lent_kept_ = false;    // forward_impl kept the input lent to saved_.x
  std::string forgotten_by_;  // why saved_ no longer serves, for the error
};

}  // namespace minicnn
