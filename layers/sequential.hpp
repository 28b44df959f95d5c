// Sequential: layers run one after another, itself a Layer (a Container).
//
//   Sequential net;
//   net.add<Conv2D>(1, 20, 5);  net.add<ReLU>();  net.add<Flatten>();
//   Dense& head = net.add<Dense>(20 * 24 * 24, 10);   // add returns the new layer
//   net.add("fc2", Dense(10, 10));                     // by value, under a name
//   std::cout << net.summary({1, 1, 28, 28});
//
// forward runs layer 0 to the last, backward the other way; an empty Sequential is the
// identity. parameters() and buffers() are named "<name>.<name in the layer>", the name
// being the child's index unless it was added under one, as PyTorch's nn.Sequential
// state_dict names them ("0.weight", "3.bias"; a nested Sequential at index 0 gives
// "0.1.weight"; "features.conv1.weight" under names), so checkpoints move between the two.
//
// Input gradient: a Sequential is usually a whole model whose input is data, so unlike
// other layers it starts with needs_input_grad() == false: its first layer is told it
// need not compute dL/dx (saving the first convolution's backward-data pass) and
// backward returns no gradient. set_needs_input_grad(true) passes the flag on to the
// first layer and makes backward return dL/dx. Layers after the first always compute
// their input gradient, as the layer before them needs it; a nested Sequential added
// after the first position is switched on accordingly. add() also puts the new layer
// in the Sequential's training mode.
//
// Fusion: a BatchNorm2D followed by a ReLU runs as one layer (BatchNorm2D::forward_relu),
// in training and in eval mode: the ReLU's passes over the tensor and the copy it keeps
// are saved, the results the same bits. The ReLU stays a child (summary, names, export
// see it); only its forward and backward are not called.
//
// Shapes: output_shape chains the layers; when a layer rejects the shape it is given,
// the Error names its index, its name() and that shape, followed by the layer's own
// message. forward runs the same check whenever the input shape changes, so a model
// built wrong fails on its first batch with that message rather than deep in a kernel.
#pragma once

#include <concepts>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "container.hpp"

namespace minicnn {

class Sequential : public Container {
 public:
  Sequential() { needs_input_grad_ = false; }

  // Constructs an L from args at the end, named by its index, and returns it.
  template <class L, class... Args>
    requires std::derived_from<L, Layer> && std::constructible_from<L, Args...>
  L& add(Args&&... args) {
    return static_cast<L&>(add(std::make_unique<L>(std::forward<Args>(args)...)));
  }
  // Moves layer in at the end, named by its index (or by name), and returns it.
  template <class L>
    requires std::derived_from<std::remove_cvref_t<L>, Layer> && (!std::is_lvalue_reference_v<L>)
  std::remove_cvref_t<L>& add(L&& layer) {
    return static_cast<std::remove_cvref_t<L>&>(add(own(std::move(layer))));
  }
  template <class L>
    requires std::derived_from<std::remove_cvref_t<L>, Layer> && (!std::is_lvalue_reference_v<L>)
  std::remove_cvref_t<L>& add(std::string name, L&& layer) {
    return static_cast<std::remove_cvref_t<L>&>(add(std::move(name), own(std::move(layer))));
  }
  // Takes ownership of layer (non-null) and returns it.
  Layer& add(std::unique_ptr<Layer> layer);
  Layer& add(std::string name, std::unique_ptr<Layer> layer);

  Shape output_shape(const Shape& x) const override;
  std::string name() const override;  // "Sequential(5 layers)"
  double flops(const Shape& x) const override;

  void set_needs_input_grad(bool on) override;

 protected:
  Tensor forward_impl(const Tensor& x) override;
  // The input goes on to the first child, each output to the next: no copies between them.
  Tensor forward_owned_impl(Tensor&& x) override;
  // y = f_{L−1}(… f_1(f_0(x)))  ⇒  dx = J_0ᵀ · J_1ᵀ · … · J_{L−1}ᵀ · dy, applied last to first
  void backward_impl(const Tensor& dy, Tensor* dx) override;
  std::vector<Shape> child_inputs(const Shape& x) const override;

 private:
  // forward_impl's work; `owned` is x when the caller gave it up, else null.
  Tensor run_forward(const Tensor& x, Tensor* owned);
  // Layer i's output shape for input x, or an Error naming i, the layer and x.
  Shape layer_output_shape(std::size_t i, const Shape& x) const;

  // Child i + 1 is a ReLU that child i, a BatchNorm2D, runs (see Fusion above).
  bool fuses(std::size_t i) const;
  Shape checked_input_;  // the input shape forward last checked
  bool checked_ = false;
  std::vector<char> fused_;  // child i's forward and backward are run by child i − 1
                             // (the last training forward's)
};

}  // namespace minicnn
