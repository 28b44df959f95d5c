// Helpers shared by the layer tests.
#pragma once

#include <minicnn/core/tensor.hpp>
#include <minicnn/layers/gradcheck.hpp>

#include <gtest/gtest.h>

#include <string>

namespace minicnn::testing {

// The message of the Error that f throws, or "(no Error thrown)".
template <class F>
std::string error_message(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no Error thrown)";
}

inline bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

inline void expect_near(const Tensor& actual, const Tensor& expected, float tol = 1e-6f) {
  ASSERT_EQ(shape_of(actual), shape_of(expected));
  for (std::size_t i = 0; i < actual.size(); ++i)
    EXPECT_NEAR(actual.data()[i], expected.data()[i], tol) << "at flat index " << i;
}

inline void expect_gradcheck(Layer& layer, const Shape& x, const GradCheckOptions& opt = {}) {
  const GradCheckResult r = check_gradients(layer, x, opt);
  EXPECT_TRUE(r.ok) << layer.name() << " on " << to_string(x) << ":\n" << r.summary();
}

}  // namespace minicnn::testing
