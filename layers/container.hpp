// Container: a layer made of named child layers, the base of Sequential, Residual and
// Concat. A model is a tree of these.
//
// Names, as PyTorch's state_dict writes them: a child's parameters and buffers are
// named "<child name>.<their name>", so that a tree of containers has the keys of the
// same tree of PyTorch modules ("layer1.0.conv1.weight"). An unnamed child of a
// Sequential is named by its index, as in nn.Sequential. A child with the empty name is
// transparent: its parameters keep their own names (Residual's body, whose layers are
// the block's own in torchvision's BasicBlock).
//
// What propagates to every child: training mode, zero_grad (through parameters()), and
// the summary. needs_input_grad is each container's own rule (see each).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "layer.hpp"

namespace minicnn {

class Container : public Layer {
 public:
  std::size_t size() const { return children_.size(); }
  bool empty() const { return children_.empty(); }
  // Child i; throws Error when i >= size().
  Layer& operator[](std::size_t i);
  const Layer& operator[](std::size_t i) const;
  // The child of that name; throws Error naming the names there are when none has it.
  Layer& child(const std::string& name);
  const std::string& child_name(std::size_t i) const;

  std::vector<Parameter> parameters() override;
  std::vector<Parameter> buffers() override;
  void set_training(bool on) override;

  // A table for an input of shape input_shape: one row per leaf layer, indexed by its
  // path ("2.0", "layer1.0.conv1"), with its name_for that input (a convolution's
  // algorithms), output shape, parameter count and forward FLOPs, then the totals.
  // Runs nothing; throws as output_shape does.
  std::string summary(const Shape& input_shape);

 protected:
  struct Child {
    std::string name;
    std::unique_ptr<Layer> layer;
  };
  // Takes ownership of layer (non-null) under name (unique among the named children)
  // and puts it in this container's training mode; returns it.
  Layer& adopt(std::string name, std::unique_ptr<Layer> layer);
  // The input shape each child sees for an input of shape x, in child order; for the
  // summary. Throws as output_shape does.
  virtual std::vector<Shape> child_inputs(const Shape& x) const = 0;
  // "Residual: branch 1 (downsample)": who an error of child i names.
  std::string who(std::size_t i) const;

  std::vector<Child> children_;

 private:
  struct Row {
    std::string index, name, shape;
    std::size_t params = 0;
    double flops = 0;
  };
  void collect_rows(const std::string& prefix, const Shape& x, std::vector<Row>& rows);
};

// Makes a std::unique_ptr<Layer> of a layer given by value (moved in).
template <class L>
std::unique_ptr<Layer> own(L&& layer) {
  return std::make_unique<std::remove_cvref_t<L>>(std::forward<L>(layer));
}

}  // namespace minicnn
