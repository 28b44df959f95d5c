// Residual: y = act(body(x) + shortcut(x)), a container.
//
//   x any shape the body takes -> y of the body's output shape.
//   shortcut: any layer whose output shape equals the body's (a strided 1×1 Conv2D and a
//   BatchNorm2D, say), or none: the identity. act: an optional layer applied to the sum
//   (ResNet's ReLU), or none.
//
//   Sequential body;                       // torchvision's BasicBlock with a projection
//   body.add("conv1", Conv2D(16, 32, 3, {.stride = 2, .padding = 1, .bias = false}));
//   body.add("bn1", BatchNorm2D(32));
//   body.add("relu", ReLU());
//   body.add("conv2", Conv2D(32, 32, 3, {.padding = 1, .bias = false}));
//   body.add("bn2", BatchNorm2D(32));
//   Sequential down;
//   down.add(Conv2D(16, 32, 1, {.stride = 2, .bias = false}));
//   down.add(BatchNorm2D(32));
//   net.add("0", Residual(std::move(body), std::move(down), ReLU()));
//
// Names: the body is transparent (its parameters keep their names: "conv1.weight",
// "bn1.running_mean"), the shortcut is named by ResidualOptions::shortcut_name
// ("downsample", torchvision's: "downsample.0.weight", "downsample.1.running_var"), the
// activation "act". So a block has the keys of the same torchvision block.
//
// Input gradient: the body and the shortcut compute theirs when the block's is wanted
// (set_needs_input_grad); the activation always does.
//
// With a ReLU as the activation (exactly minicnn's ReLU, not a class derived from it) the
// sum and the ReLU are one pass over the body's output, which becomes y, and backward
// takes the ReLU's gradient from a mask of a byte a value kept by the block: the same
// bits as the two run one after the other, one pass and a quarter of the ReLU's saved
// tensor less. The ReLU stays a child (names, summary, export) whose own forward and
// backward are skipped. In eval mode the block writes nothing of its own.
#pragma once

#include <concepts>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "container.hpp"

namespace minicnn {

struct ResidualOptions {
  std::string shortcut_name = "downsample";
};

class Residual : public Container {
 public:
  // body must not be null; shortcut and act may be (the identity, no activation).
  explicit Residual(std::unique_ptr<Layer> body, std::unique_ptr<Layer> shortcut = nullptr,
                    std::unique_ptr<Layer> act = nullptr, ResidualOptions opt = {});
  // The same with layers given by value: Residual(std::move(body), Conv2D(...), ReLU()).
  template <class B>
    requires std::derived_from<std::remove_cvref_t<B>, Layer> && (!std::is_lvalue_reference_v<B>)
  explicit Residual(B&& body) : Residual(own(std::move(body))) {}
  template <class B, class S>
    requires std::derived_from<std::remove_cvref_t<B>, Layer> &&
             std::derived_from<std::remove_cvref_t<S>, Layer> &&
             (!std::is_lvalue_reference_v<B>) && (!std::is_lvalue_reference_v<S>)
  Residual(B&& body, S&& shortcut) : Residual(own(std::move(body)), own(std::move(shortcut))) {}
  template <class B, class S, class A>
    requires std::derived_from<std::remove_cvref_t<B>, Layer> &&
             std::derived_from<std::remove_cvref_t<S>, Layer> &&
             std::derived_from<std::remove_cvref_t<A>, Layer> &&
             (!std::is_lvalue_reference_v<B>) && (!std::is_lvalue_reference_v<S>) &&
             (!std::is_lvalue_reference_v<A>)
  Residual(B&& body, S&& shortcut, A&& act, ResidualOptions opt = {})
      : Residual(own(std::move(body)), own(std::move(shortcut)), own(std::move(act)),
                 std::move(opt)) {}

  Layer& body() { return *children_[0].layer; }
  // Null when the shortcut is the identity, or there is no activation.
  Layer* shortcut() { return shortcut_ ? children_[1].layer.get() : nullptr; }
  Layer* activation() { return act_ ? children_.back().layer.get() : nullptr; }

  // The body's output shape; throws Error naming both branches' shapes when the shortcut's
  // differs.
  Shape output_shape(const Shape& x) const override;
  // "Residual(projection, act)"
  std::string name() const override;
  // The branches', the activation's, and one add per output element.
  double flops(const Shape& x) const override;
  void set_needs_input_grad(bool on) override;

 protected:
  Tensor forward_impl(const Tensor& x) override;
  // As forward_impl, the input going to the shortcut (which runs last) when there is one.
  Tensor forward_owned_impl(Tensor&& x) override;
  // s = body(x) + shortcut(x), y = act(s)  ⇒  ds = act'ᵀ·dy,
  //   dx = J_bodyᵀ·ds + J_shortcutᵀ·ds   (J_shortcut = I for the identity)
  void backward_impl(const Tensor& dy, Tensor* dx) override;
  std::vector<Shape> child_inputs(const Shape& x) const override;

 private:
  // forward_impl's work; `owned` is x when the caller gave it up, else null.
  Tensor run_forward(const Tensor& x, Tensor* owned);
  // The activation is minicnn's ReLU, which the block runs itself.
  bool fuses_relu() const;
  bool shortcut_, act_;
  std::vector<unsigned char> relu_on_;  // when it does: 1 where the sum was > 0
};

}  // namespace minicnn
