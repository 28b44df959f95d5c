// Sequential: layers run one after another, itself a Layer.
//
//   Sequential net;
//   net.add<Conv2D>(1, 20, 5);  net.add<ReLU>();  net.add<Flatten>();
//   Dense& head = net.add<Dense>(20 * 24 * 24, 10);   // add returns the new layer
//   std::cout << net.summary({1, 1, 28, 28});
//
// forward runs layer 0 to the last, backward the other way; an empty Sequential is the
// identity. parameters() and buffers() are named "<index>.<name>" as PyTorch's
// nn.Sequential state_dict names them ("0.weight", "3.bias"; a nested Sequential at
// index 0 gives "0.1.weight"), so checkpoints move between the two.
//
// Input gradient: a Sequential is usually a whole model whose input is data, so unlike
// other layers it starts with needs_input_grad() == false: its first layer is told it
// need not compute dL/dx (saving the first convolution's backward-data pass) and
// backward returns std::nullopt. set_needs_input_grad(true) passes the flag on to the
// first layer and makes backward return dL/dx. Layers after the first always compute
// their input gradient, as the layer before them needs it; a nested Sequential added
// after the first position is switched on accordingly. add() also puts the new layer
// in the Sequential's training mode.
//
// Shapes: output_shape chains the layers; when a layer rejects the shape it is given,
// the Error names its index, its name() and that shape, followed by the layer's own
// message. forward runs the same check whenever the input shape changes, so a model
// built wrong fails on its first batch with that message rather than deep in a kernel.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "layer.hpp"

namespace minicnn {

class Sequential : public Layer {
 public:
  Sequential() { needs_input_grad_ = false; }

  // Constructs an L from args at the end and returns it.
  template <class L, class... Args>
  L& add(Args&&... args) {
    static_assert(std::is_base_of_v<Layer, L>, "Sequential::add<L>: L must derive from Layer");
    auto layer = std::make_unique<L>(std::forward<Args>(args)...);
    L& ref = *layer;
    add(std::move(layer));
    return ref;
  }
  // Takes ownership of layer (non-null) and returns it.
  Layer& add(std::unique_ptr<Layer> layer);

  std::size_t size() const { return layers_.size(); }
  bool empty() const { return layers_.empty(); }
  // Layer i; throws Error when i >= size().
  Layer& operator[](std::size_t i);
  const Layer& operator[](std::size_t i) const;

  std::vector<Parameter> parameters() override;
  std::vector<Parameter> buffers() override;

  Shape output_shape(const Shape& x) const override;
  std::string name() const override;  // "Sequential(5 layers)"
  double flops(const Shape& x) const override;

  void set_training(bool on) override;
  void set_needs_input_grad(bool on) override;

  // A table for an input of shape input_shape: one row per layer (the layers of a
  // nested Sequential get indices "2.0", "2.1", ...) with its name_for that input (a
  // convolution's algorithms), output shape, parameter count and forward FLOPs, then
  // the totals. Runs nothing; throws as output_shape does.
  std::string summary(const Shape& input_shape);

 protected:
  Tensor forward_impl(const Tensor& x) override;
  // y = f_{L−1}(… f_1(f_0(x)))  ⇒  dx = J_0ᵀ · J_1ᵀ · … · J_{L−1}ᵀ · dy, applied last to first
  void backward_impl(const Tensor& dy, Tensor* dx) override;

 private:
  struct Row {
    std::string index, name, shape;
    std::size_t params = 0;
    double flops = 0;
  };
  // Layer i's output shape for input x, or an Error naming i, the layer and x.
  Shape layer_output_shape(std::size_t i, const Shape& x) const;
  void collect_rows(const std::string& prefix, Shape& x, std::vector<Row>& rows);

  std::vector<std::unique_ptr<Layer>> layers_;
  Shape checked_input_;  // the input shape forward last checked
  bool checked_ = false;
};

}  // namespace minicnn
