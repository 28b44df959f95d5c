// Concat: parallel branches on the same input, joined along the channel axis.
//
//   x -> y = [b_0(x), b_1(x), ...] along axis 1: the branches' outputs must agree in
//   every other axis (N, and H, W for images); y's axis 1 is the sum of theirs.
//
//   Concat inception;
//   inception.add(Conv2D(64, 32, 1));                            // branch "0"
//   inception.add("b3x3", Conv2D(64, 32, 3, {.padding = 1}));    // a named branch
//
// Names: branches are named by index unless added under a name, as in Sequential.
// Backward gives each branch its slice of dy along axis 1 and sums what comes back
// into the shared input. Every branch computes its input gradient when the Concat's
// is wanted (set_needs_input_grad).
#pragma once

#include <concepts>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "container.hpp"

namespace minicnn {

class Concat : public Container {
 public:
  // Adds a branch by value, named by its index (or by name), and returns it.
  template <class L>
    requires std::derived_from<std::remove_cvref_t<L>, Layer> && (!std::is_lvalue_reference_v<L>)
  std::remove_cvref_t<L>& add(L&& branch) {
    return static_cast<std::remove_cvref_t<L>&>(add(own(std::move(branch))));
  }
  template <class L>
    requires std::derived_from<std::remove_cvref_t<L>, Layer> && (!std::is_lvalue_reference_v<L>)
  std::remove_cvref_t<L>& add(std::string name, L&& branch) {
    return static_cast<std::remove_cvref_t<L>&>(add(std::move(name), own(std::move(branch))));
  }
  Layer& add(std::unique_ptr<Layer> branch);
  Layer& add(std::string name, std::unique_ptr<Layer> branch);

  // Throws Error naming the branch and both shapes when outputs disagree off axis 1,
  // or when there is no branch.
  Shape output_shape(const Shape& x) const override;
  // "Concat(3 branches)"
  std::string name() const override;
  double flops(const Shape& x) const override;
  void set_needs_input_grad(bool on) override;

 protected:
  Tensor forward_impl(const Tensor& x) override;
  // y = [b_i(x)]_i along axis 1  ⇒  dx = Σ_i J_iᵀ · dy[:, slice i]
  void backward_impl(const Tensor& dy, Tensor* dx) override;
  std::vector<Shape> child_inputs(const Shape& x) const override;

 private:
  // Each branch's output shape for input x (checked against branch 0's).
  std::vector<Shape> branch_shapes(const Shape& x) const;
};

}  // namespace minicnn
