#include "gradcheck.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <optional>
#include <sstream>

#include "../core/random.hpp"

namespace minicnn {
namespace {

// L = Σ y⊙g, summed in double so that the differences of two nearby L keep their digits.
double objective(const Tensor& y, const Tensor& g) {
  const float* py = y.data();
  const float* pg = g.data();
  double L = 0.0;
  for (std::size_t i = 0, n = y.size(); i < n; ++i) L += static_cast<double>(py[i]) * pg[i];
  return L;
}

// The multi-index of flat index i in shape s: "(0, 2, 1)".
std::string index_string(std::size_t i, const Shape& s) {
  Shape idx(s.size());
  for (std::size_t d = s.size(); d-- > 0;) {
    idx[d] = s[d] ? i % s[d] : 0;
    i = s[d] ? i / s[d] : 0;
  }
  return to_string(idx);
}

std::string num(double v) {
  std::ostringstream out;
  out.precision(4);
  out << v;
  return out.str();
}

// Up to k distinct indices of [0, n) drawn with rng, in increasing order; all of them
// when n <= k.
std::vector<std::size_t> pick(std::size_t n, std::size_t k, Rng& rng) {
  std::vector<std::size_t> all(n);
  std::iota(all.begin(), all.end(), std::size_t{0});
  if (n <= k) return all;
  for (std::size_t i = 0; i < k; ++i) std::swap(all[i], all[i + rng.next() % (n - i)]);
  all.resize(k);
  std::sort(all.begin(), all.end());
  return all;
}

// Puts back the parameters, gradients, buffers and the input-gradient flag of a layer
// when the check ends, however it ends.
class StateGuard {
 public:
  explicit StateGuard(Layer& layer)
      : layer_(layer), needs_input_grad_(layer.needs_input_grad()) {
    for (const Parameter& p : layer.parameters()) {
      if (p.value) saved_.push_back({p.value, *p.value});
      if (p.grad) saved_.push_back({p.grad, *p.grad});
    }
    for (const Parameter& b : layer.buffers()) {
      if (b.int64) counts_.push_back({b.int64, *b.int64});  // the state is the count
      else if (b.value) saved_.push_back({b.value, *b.value});
    }
  }
  StateGuard(const StateGuard&) = delete;
  StateGuard& operator=(const StateGuard&) = delete;
  ~StateGuard() {
    for (auto& [where, value] : saved_) *where = value;
    for (auto& [where, count] : counts_) *where = count;
    layer_.set_needs_input_grad(needs_input_grad_);
  }

 private:
  Layer& layer_;
  bool needs_input_grad_;
  std::vector<std::pair<Tensor*, Tensor>> saved_;
  std::vector<std::pair<std::int64_t*, std::int64_t>> counts_;
};

// Largest |a − b| / max(|a|, |b|, 1) over two tensors of the same size.
double max_scaled_diff(const Tensor& a, const Tensor& b) {
  double worst = 0.0;
  for (std::size_t i = 0, n = a.size(); i < n; ++i) {
    const double x = a.data()[i], y = b.data()[i];
    worst = std::max(worst, std::abs(x - y) / std::max({std::abs(x), std::abs(y), 1.0}));
  }
  return worst;
}

bool all_finite(const Tensor& t) {
  return std::all_of(t.data(), t.data() + t.size(), [](float v) { return std::isfinite(v); });
}

double max_abs(const Tensor& t) {
  double m = 0.0;
  for (std::size_t i = 0, n = t.size(); i < n; ++i)
    m = std::max(m, static_cast<double>(std::abs(t.data()[i])));
  return m;
}

void validate(const GradCheckOptions& opt, const std::string& who) {
  check_arg(std::isfinite(opt.eps) && opt.eps > 0, who, "eps", "finite and > 0", num(opt.eps));
  check_arg(opt.tolerance > 0, who, "tolerance", "> 0", num(opt.tolerance));
  if (opt.kink_threshold)
    check_arg(*opt.kink_threshold > 0, who, "kink_threshold", "> 0", num(*opt.kink_threshold));
  check_arg(opt.zero_threshold >= 0, who, "zero_threshold", ">= 0", num(opt.zero_threshold));
  check_arg(opt.max_checks > 0, who, "max_checks", "> 0", std::to_string(opt.max_checks));
  std::ostringstream range;
  range << '[' << opt.input_lo << ", " << opt.input_hi << ')';
  check_arg(std::isfinite(opt.input_lo) && std::isfinite(opt.input_hi) &&
                opt.input_lo < opt.input_hi,
            who, "the input range", "finite with input_lo < input_hi", range.str());
}

// Accuracy expected of a second backward against the first: the same computation, up to
// the rounding of an accumulation that may run in another order.
constexpr double kRepeatTolerance = 1e-4;

}  // namespace

std::string GradCheckResult::summary() const {
  std::ostringstream out;
  for (const GradCheckTensor& t : tensors) {
    out << t.name << ' ' << to_string(t.shape) << ": checked " << t.checked << ", skipped "
        << t.skipped << ", max abs error " << num(t.max_abs_error) << ", max rel error "
        << num(t.max_rel_error) << ", max |analytic| " << num(t.max_abs_analytic)
        << ", max |numeric| " << num(t.max_abs_numeric) << (t.ok ? ", ok" : ", FAILED") << '\n';
  }
  if (!reason.empty()) out << reason << '\n';
  return out.str();
}

GradCheckResult check_gradients(Layer& layer, const Shape& input_shape,
                                const GradCheckOptions& opt) {
  const std::string who = "check_gradients(" + layer.name() + ")";
  validate(opt, who);
  if (!layer.training())
    throw Error(who + ": the layer must be in training mode (call set_training(true))");
  const Shape y_shape = layer.output_shape(input_shape);
  const double kink_threshold = opt.kink_threshold.value_or(opt.tolerance / 4);

  GradCheckResult result;
  auto fail = [&](const std::string& why) {
    result.ok = false;
    result.reason += (result.reason.empty() ? "" : "\n") + why;
  };

  StateGuard guard(layer);
  layer.set_needs_input_grad(true);
  std::vector<Parameter> params = layer.parameters();
  for (const Parameter& p : params)
    if (!p.value) throw Error(who + ": parameter " + p.name + " has no value tensor");

  Rng rng(opt.seed);
  Tensor x = Tensor::from_shape(input_shape);
  fill_uniform(x, opt.input_lo, opt.input_hi, rng);
  Tensor g = Tensor::from_shape(y_shape);
  fill_uniform(g, -1.0f, 1.0f, rng);

  // ---- analytic: NaN in every gradient, cleared by zero_grad, then one backward ----
  for (const Parameter& p : params)
    if (p.grad) p.grad->fill(std::numeric_limits<float>::quiet_NaN());
  layer.zero_grad();
  const Tensor y = layer.forward(x);
  if (shape_of(y) != y_shape) {
    fail(who + ": forward returned shape " + to_string(shape_of(y)) + " but output_shape says " +
         to_string(y_shape));
    return result;
  }
  const double L0 = objective(y, g);
  const InputGrad maybe_dx = layer.backward(g);
  if (!maybe_dx) {
    fail(who + ": backward returned no input gradient although needs_input_grad() is true");
    return result;
  }
  const Tensor& dx = *maybe_dx;
  if (shape_of(dx) != input_shape) {
    fail(who + ": backward returned dx of shape " + to_string(shape_of(dx)) +
         ", expected the input's " + to_string(input_shape));
    return result;
  }
  if (!all_finite(dx)) fail(who + ": dx holds a value that is not finite");

  std::vector<Tensor> grads;  // analytic gradient of each parameter, or empty
  for (const Parameter& p : params) {
    if (!p.grad) {
      fail(who + ": parameter " + p.name + " has no gradient tensor");
      grads.emplace_back();
      continue;
    }
    if (shape_of(*p.grad) != shape_of(*p.value)) {
      fail(who + ": gradient of " + p.name + " has shape " + to_string(shape_of(*p.grad)) +
           ", its value " + to_string(shape_of(*p.value)));
      grads.emplace_back();
      continue;
    }
    if (!all_finite(*p.grad))
      fail(who + ": gradient of " + p.name +
           " holds a value that is not finite (was it cleared by zero_grad and written?)");
    grads.push_back(*p.grad);
  }
  if (!result.ok) return result;

  // ---- the contract: same forward, same dx (a fresh one), parameter gradients add up ----
  const Tensor y2 = layer.forward(x);
  if (shape_of(y2) != y_shape || max_scaled_diff(y, y2) > kRepeatTolerance)
    fail(who + ": two forwards of the same input differ; a check needs a deterministic "
         "forward (seed a random layer anew before each)");
  const InputGrad dx2 = layer.backward(g);
  if (!dx2 || shape_of(*dx2) != input_shape || max_scaled_diff(dx, *dx2) > kRepeatTolerance)
    fail(who + ": a second backward returned another dx; dx must be fresh, not accumulated");
  for (std::size_t i = 0; i < params.size(); ++i) {
    const Tensor twice = 2.0f * grads[i];
    if (max_scaled_diff(*params[i].grad, twice) > kRepeatTolerance)
      fail(who + ": gradient of " + params[i].name +
           " did not accumulate over two backward calls (expected twice the first)");
  }
  if (!result.ok) return result;

  // ---- numeric: central differences, one element at a time ----
  struct Target {
    std::string name;
    Tensor* value;
    const Tensor* analytic;
  };
  std::vector<Target> targets{{"input", &x, &dx}};
  for (std::size_t i = 0; i < params.size(); ++i)
    targets.push_back({params[i].name, params[i].value, &grads[i]});

  for (const Target& t : targets) {
    GradCheckTensor r;
    r.name = t.name;
    r.shape = shape_of(*t.value);
    r.max_abs_analytic = max_abs(*t.analytic);
    float* v = t.value->data();
    const float* a = t.analytic->data();
    std::size_t worst_i = 0;
    double worst_a = 0.0, worst_n = 0.0;
    std::size_t too_large = 0;
    for (std::size_t i : pick(t.value->size(), opt.max_checks, rng)) {
      const float orig = v[i];
      // L at v + step, and the step actually taken after rounding to float.
      auto L_at = [&](double step, double& taken) {
        v[i] = static_cast<float>(orig + step);
        taken = std::abs(static_cast<double>(v[i]) - orig);
        return objective(layer.forward(x), g);
      };
      double hp1, hm1, hp2, hm2;
      const double Lp1 = L_at(opt.eps, hp1), Lm1 = L_at(-opt.eps, hm1);
      const double Lp2 = L_at(opt.eps / 2, hp2), Lm2 = L_at(-opt.eps / 2, hm2);
      v[i] = orig;
      if (hp2 == 0 || hm2 == 0) {  // eps vanishes next to a value this large
        ++r.skipped;
        ++too_large;
        continue;
      }

      const double c1 = (Lp1 - Lm1) / (hp1 + hm1), c2 = (Lp2 - Lm2) / (hp2 + hm2);
      const double gap1 = (Lp1 - L0) / hp1 - (L0 - Lm1) / hm1;
      const double gap2 = (Lp2 - L0) / hp2 - (L0 - Lm2) / hm2;
      const double scale = std::max({std::abs(c1), std::abs(c2), 1.0});
      if (std::abs(c1 - c2) > kink_threshold * scale ||
          std::abs(gap2 - gap1 / 2) > kink_threshold * scale) {
        ++r.skipped;
        continue;
      }
      const double n = c1;
      const double ai = a[i];
      const double abs_err = std::abs(ai - n);
      const double rel_err = abs_err / std::max({std::abs(ai), std::abs(n), 1.0});
      ++r.checked;
      r.max_abs_numeric = std::max(r.max_abs_numeric, std::abs(n));
      r.max_abs_error = std::max(r.max_abs_error, abs_err);
      if (rel_err > r.max_rel_error || r.checked == 1) {
        r.max_rel_error = std::max(r.max_rel_error, rel_err);
        worst_i = i;
        worst_a = ai;
        worst_n = n;
      }
    }

    if (too_large > 0) {
      r.ok = false;
      fail(t.name + ": at " + std::to_string(too_large) + " elements eps = " + num(opt.eps) +
           " is lost to float rounding; raise eps");
    } else if (t.value->size() == 0) {
      r.ok = false;
      fail(t.name + ": the tensor has no elements to check");
    } else if (r.checked == 0) {
      r.ok = false;
      fail(t.name + ": all " + std::to_string(r.skipped) +
           " elements tried sit at a kink; nothing was compared");
    } else if (r.max_rel_error > opt.tolerance) {
      r.ok = false;
      fail(t.name + ": error " + num(r.max_rel_error) + " > tolerance " + num(opt.tolerance) +
           " at " + index_string(worst_i, r.shape) + " (analytic " + num(worst_a) +
           ", numeric " + num(worst_n) + ")");
    } else if (r.max_abs_analytic <= opt.zero_threshold &&
               r.max_abs_numeric <= opt.zero_threshold) {
      r.ok = false;
      fail(t.name + ": analytic and numeric gradients are both zero (max |analytic| " +
           num(r.max_abs_analytic) + ", max |numeric| " + num(r.max_abs_numeric) +
           "), so the check proves nothing");
    }
    result.tensors.push_back(std::move(r));
  }
  return result;
}

}  // namespace minicnn
