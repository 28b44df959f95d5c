#include "tensor.hpp"

#include <cmath>
#include <new>
#include <sstream>

#include "ops.hpp"

namespace minicnn {

std::string to_string(const Shape& s) {
  std::ostringstream out;
  out << '(';
  for (std::size_t i = 0; i < s.size(); ++i) out << (i ? ", " : "") << s[i];
  if (s.size() == 1) out << ',';
  out << ')';
  return out.str();
}

std::string format_float(double v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

Shape shape_of(const Tensor& t) { return Shape(t.shape().begin(), t.shape().end()); }

std::size_t numel(const Shape& s) {
  std::size_t n = 1;
  for (std::size_t d : s) n *= d;
  return n;
}

std::size_t checked_mul(std::size_t a, std::size_t b, std::string_view who, std::string_view what) {
  std::size_t r = 0;
  if (__builtin_mul_overflow(a, b, &r) || r > kMaxElements) {
    std::ostringstream msg;
    msg << who << ": " << what << " is too large (" << a << " x " << b << " elements; at most "
        << kMaxElements << ")";
    throw Error(msg.str());
  }
  return r;
}

std::size_t checked_numel(const Shape& s, std::string_view who) {
  std::size_t n = 1;
  for (std::size_t d : s) n = checked_mul(n, d, who, "a tensor of shape " + to_string(s));
  return n;
}

Tensor zeros(const Shape& s, std::string_view who) {
  const std::size_t n = checked_numel(s, who);
  try {
    return Tensor(s, 0.0f);
  } catch (const std::bad_alloc&) {
    std::ostringstream msg;
    msg << who << ": cannot allocate a tensor of shape " << to_string(s) << " ("
        << n * sizeof(float) << " bytes)";
    throw Error(msg.str());
  }
}

void check_rank(const Tensor& t, std::size_t rank, std::string_view who, std::string_view what) {
  if (t.dimension() == rank) return;
  std::ostringstream msg;
  msg << who << ": expected " << what << " of rank " << rank << ", got shape "
      << to_string(shape_of(t));
  throw Error(msg.str());
}

void check_shape(const Shape& actual, const Shape& expected, std::string_view who,
                 std::string_view what) {
  if (actual == expected) return;
  std::ostringstream msg;
  msg << who << ": expected " << what << " of shape " << to_string(expected) << ", got "
      << to_string(actual);
  throw Error(msg.str());
}

void check_arg(bool ok, std::string_view who, std::string_view what, std::string_view cond,
               const std::string& value) {
  if (ok) return;
  std::ostringstream msg;
  msg << who << ": " << what << " must be " << cond << ", got " << value;
  throw Error(msg.str());
}

void check_non_negative(double v, std::string_view who, std::string_view what) {
  check_arg(std::isfinite(v) && v >= 0.0, who, what, "finite and >= 0", format_float(v));
}

}  // namespace minicnn
