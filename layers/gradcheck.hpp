// check_gradients: compare a layer's backward with central differences of its forward.
//
//   MyLayer layer(...);                                   // in training mode
//   GradCheckResult r = check_gradients(layer, {2, 3, 5, 7});
//   if (!r.ok) std::cerr << r.summary();                  // names the tensor that failed
//
// The objective is L = Σ y⊙g for a fixed random g, so dL/dy = g. The input x is filled
// with random values (uniform in [input_lo, input_hi)), all from one Rng seeded with
// opt.seed: the same options give the same check. The analytic gradients come from one
// forward and backward, after every parameter gradient was set to NaN and cleared
// through zero_grad(). The numeric ones, for the input ("input") and each parameter (by
// its name), perturb one element v at a time and take
//     n = c(eps) = (L(v + eps) − L(v − eps)) / (2·eps)   (L summed in double)
// at up to max_checks elements per tensor (a seeded random subset when there are more).
//
// Per element the error is |a − n| / max(|a|, |n|, 1), the scaling of Caffe's checker:
// relative for large gradients, absolute for small ones. A tensor passes when every
// checked element's error is <= tolerance.
//
// Kinks (ReLU at 0, a max-pool tie) make central differences meaningless, so each
// element is also evaluated with half the step, h = eps / 2. On a smooth function the two
// central differences c(eps), c(eps/2) agree to O(eps²), and the gap between the
// one-sided differences, (L(v + h) − L(v)) / h − (L(v) − L(v − h)) / h ≈ L''·h, halves
// with h. A kink within eps of v breaks one or the other: when
// |c(eps) − c(eps/2)| or |gap(eps/2) − gap(eps)/2| exceeds kink_threshold (on the same
// scale as the error), the element is skipped and counted. For a kink of a piecewise
// linear function this lets through only errors up to 4·kink_threshold, hence the
// default tolerance / 4; a strongly curved smooth point is not mistaken for a kink.
//
// The check fails (ok = false, reason says why) when
//   - an error exceeds the tolerance;
//   - for some tensor the analytic and numeric gradients are both below zero_threshold
//     everywhere checked: such a check proves nothing (the objective does not reach
//     the tensor, or the layer never writes its gradient);
//   - every element of a tensor was skipped;
//   - the layer breaks its contract: forward's shape differs from output_shape, dx has
//     another shape than x, a gradient is not finite (the NaN was never cleared) or has
//     another shape than its parameter; a second forward and backward of the same x
//     give another y or dx (dx must be fresh) or do not double the parameter gradients.
// It throws Error when the layer is not in training mode or an option is invalid.
// Afterwards the layer's parameters, buffers (running statistics), gradients and
// flags are what they were before.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "layer.hpp"

namespace minicnn {

struct GradCheckOptions {
  double eps = 1e-2;             // step of the central difference; suits float32
  double tolerance = 1e-2;       // on |a − n| / max(|a|, |n|, 1)
  // Skip elements whose differences show a kink by more than this; unset: tolerance / 4.
  std::optional<double> kink_threshold = std::nullopt;
  double zero_threshold = 1e-6;  // gradients below this everywhere count as zero
  std::size_t max_checks = 200;  // elements perturbed per tensor
  std::uint64_t seed = 1;        // input, g and the elements to check
  float input_lo = -1.0f, input_hi = 1.0f;
};

struct GradCheckTensor {
  std::string name;  // "input" or a parameter's name
  Shape shape;
  std::size_t checked = 0;  // elements compared
  std::size_t skipped = 0;  // elements at a kink
  double max_abs_error = 0.0;   // max |a − n|
  double max_rel_error = 0.0;   // max |a − n| / max(|a|, |n|, 1)
  double max_abs_analytic = 0.0;  // over the whole tensor
  double max_abs_numeric = 0.0;   // over the checked elements
  bool ok = true;
};

struct GradCheckResult {
  bool ok = true;
  std::string reason;  // why not ok: the failures, one per line; empty when ok
  std::vector<GradCheckTensor> tensors;
  // One line per tensor with its counts and errors, then the reason.
  std::string summary() const;
};

GradCheckResult check_gradients(Layer& layer, const Shape& input_shape,
                                const GradCheckOptions& opt = {});

}  // namespace minicnn
