#include "conv_layer.hpp"

#include <mutex>
#include <sstream>
#include <vector>

#include "../core/blas.hpp"
#include "../core/random.hpp"

namespace minicnn {

ConvLayer::ConvLayer(const char* kind, std::size_t in, std::size_t out, Kernel2D kernel,
                     Settings s, const Shape& weight_shape, std::size_t fan_in,
                     std::array<ConvPass, 3> passes)
    : kind_(kind), in_(in), out_(out), kernel_(kernel), s_(s), weight_shape_(weight_shape),
      passes_(passes) {
  check_arg(in_ > 0, kind, "in_channels", "> 0", std::to_string(in_));
  check_arg(out_ > 0, kind, "out_channels", "> 0", std::to_string(out_));
  check_arg(kernel_.h > 0 && kernel_.w > 0, kind, "kernel", "> 0 in both sizes",
            std::to_string(kernel_.h) + "x" + std::to_string(kernel_.w));
  check_arg(s_.stride > 0, kind, "stride", "> 0", std::to_string(s_.stride));
  check_arg(s_.dilation > 0, kind, "dilation", "> 0", std::to_string(s_.dilation));
  check_arg(s_.groups > 0, kind, "groups", "> 0", "0");
  if (in_ % s_.groups != 0 || out_ % s_.groups != 0) {
    throw Error(std::string(kind) + ": groups must divide in_channels and out_channels, got " +
                "groups " + std::to_string(s_.groups) + " for " + std::to_string(in_) + "->" +
                std::to_string(out_));
  }
  check_arg(s_.workspace_limit > 0, kind, "workspace_limit", "> 0", "0");
  shared_.ws = new_workspace();
  weight_ = zeros(weight_shape_, kind);
  he_normal(weight_, fan_in);
  dweight_ = zeros(weight_shape_, kind);
  if (s_.bias) {
    bias_ = zeros({out_}, kind);
    dbias_ = zeros({out_}, kind);
  }
}

void ConvLayer::set_algo(ConvAlgo a) {
  const std::string got = "got a " + std::to_string(kernel_.h) + "x" +
                          std::to_string(kernel_.w) + " kernel, stride " +
                          std::to_string(s_.stride) + " and dilation " +
                          std::to_string(s_.dilation);
  if (a == ConvAlgo::FFT && (s_.stride != 1 || s_.dilation != 1))
    throw Error(name() + ": the FFT algorithm needs stride 1 and dilation 1, " + got);
  const bool winograd_kernel = kernel_.h == kernel_.w && (kernel_.h == 3 || kernel_.h == 5);
  if (a == ConvAlgo::Winograd && (!winograd_kernel || s_.stride != 1 || s_.dilation != 1)) {
    throw Error(name() + ": the Winograd algorithm needs a 3x3 or 5x5 kernel, stride 1 and " +
                "dilation 1, " + got);
  }
  if ((a == ConvAlgo::FFT || a == ConvAlgo::Winograd) && s_.groups != 1) {
    throw Error(name() + ": the " + to_string(a) + " algorithm needs groups = 1, got groups " +
                std::to_string(s_.groups) + " (grouped convolutions run by im2col, direct or "
                "depthwise)");
  }
  // weight_shape_[1] is the channels each group of the convolution's input holds.
  if (a == ConvAlgo::Depthwise && weight_shape_[1] != 1) {
    throw Error(name() + ": the depthwise algorithm needs one input channel per group, got " +
                std::to_string(weight_shape_[1]) + " (groups " + std::to_string(s_.groups) +
                ")");
  }
  s_.algo = a;
  {
    std::lock_guard<std::mutex> lock(shared_.plans_mutex);
    shared_.plans.clear();
  }
  forget_saved("set_algo");
}

ConvPlan ConvLayer::plan(const Shape& x) const {
  const ConvGeom g = geometry(x);
  const int T = num_threads();
  // Held while choosing too: two threads asking for a new geometry choose (and, with
  // autotune, time the algorithms) once, not at the same time on the same cores.
  std::lock_guard<std::mutex> lock(shared_.plans_mutex);
  auto it = shared_.plans.find({g, T});
  if (it != shared_.plans.end()) return it->second;
  ConvPlan p;
  for (int i = 0; i < 3; ++i)
    p[i] = conv_choose(s_.algo, g, passes_[i], T, s_.workspace_limit, s_.autotune);
  // The model times each pass alone, but FFT in a backward pass pays for itself through
  // the spectra an FFT forward leaves it; after another forward it transforms all it
  // reads anew, and its spectra push the other passes' data out of the caches. On
  // LeNet's second layer (Winograd forward) FFT's backward-data alone was 8% faster than
  // Winograd's, yet the layer's backward with it 10-20% slower than with Winograd for
  // both passes. So after a forward by another algorithm a backward pass keeps FFT only
  // when the model gives it a clear lead over the forward's algorithm.
  constexpr double kFftAloneLead = 1.5;
  const bool by_model = s_.algo == ConvAlgo::Auto && !s_.autotune && !conv_autotune_from_env();
  if (by_model && p[0].algo != ConvAlgo::FFT)
    for (int i = 1; i < 3; ++i) {
      if (p[i].algo != ConvAlgo::FFT) continue;
      const ConvChoice same = conv_choose(p[0].algo, g, passes_[i], T, s_.workspace_limit, false);
      if (same.seconds < kFftAloneLead * p[i].seconds) p[i] = same;
    }
  shared_.plans.emplace(std::pair{g, T}, p);
  return p;
}

ConvWorkspace ConvLayer::new_workspace() const {
  ConvWorkspace ws;
  ws.im2col.limit_bytes = s_.workspace_limit;
  ws.winograd.limit_bytes = s_.workspace_limit;
  return ws;
}

namespace {

// The scratch of im2col and Winograd (nothing in it outlives a call), shared by every
// conv layer of the process: a call borrows one buffer of each kind and gives them back,
// so a model's layers hold about one pair between them (one per thread running a conv
// at once), the size of the largest layer's, instead of a pair each. Each kind has its
// own stack, last in first out, so that one thread's calls keep meeting the buffer they
// warmed. (FFT's spectra serve forward and backward, and stay in the layer's workspace.)
struct ScratchPool {
  std::mutex mutex;
  std::vector<AlignedBuffer<float>> free[2];  // im2col's, Winograd's
};

ScratchPool& scratch_pool() {
  static ScratchPool pool;
  return pool;
}

AlignedBuffer<float> borrow_scratch(int kind) {
  ScratchPool& pool = scratch_pool();
  std::lock_guard<std::mutex> lock(pool.mutex);
  std::vector<AlignedBuffer<float>>& stack = pool.free[kind];
  if (stack.empty()) return {};
  AlignedBuffer<float> b = std::move(stack.back());
  stack.pop_back();
  return b;
}

void return_scratch(int kind, AlignedBuffer<float>& b) noexcept {
  if (b.capacity() == 0) return;
  ScratchPool& pool = scratch_pool();
  std::lock_guard<std::mutex> lock(pool.mutex);
  try {
    pool.free[kind].push_back(std::move(b));
  } catch (...) {  // no room to keep it: freed with the workspace
  }
}

}  // namespace

ConvLayer::Workspace::Workspace(ConvLayer& layer)
    : layer_(layer), own_(layer.shared_.ws_mutex, std::defer_lock), ws_(&layer.shared_.ws) {
  if (layer.training_) {
    own_.lock();
  } else if (!own_.try_lock()) {
    {
      std::lock_guard<std::mutex> lock(layer.shared_.pool_mutex);
      if (!layer.shared_.pool.empty()) {
        pooled_ = std::move(layer.shared_.pool.back());
        layer.shared_.pool.pop_back();
      }
    }
    if (!pooled_) pooled_ = std::make_unique<ConvWorkspace>(layer.new_workspace());
    ws_ = pooled_.get();
  }
  ws_->im2col.buffer = borrow_scratch(0);
  ws_->winograd.buffer = borrow_scratch(1);
}

ConvLayer::Workspace::~Workspace() {
  return_scratch(0, ws_->im2col.buffer);
  return_scratch(1, ws_->winograd.buffer);
  if (!pooled_) return;
  std::lock_guard<std::mutex> lock(layer_.shared_.pool_mutex);
  try {
    layer_.shared_.pool.push_back(std::move(pooled_));
  } catch (...) {  // no room to keep it: it is freed, the next call makes another
  }
}

void ConvLayer::run(int i, const ConvGeom& g, const ConvTensors& t, const ConvPlan& p,
                    ConvWorkspace& ws) {
  conv2d_run(p[i].algo, passes_[i], g, t, ws, name());
}

std::string ConvLayer::name() const {
  std::ostringstream s;
  s << kind_ << "(" << in_ << "->" << out_ << ", " << kernel_.h << "x" << kernel_.w;
  if (s_.stride != 1) s << ", stride " << s_.stride;
  if (s_.padding != 0) s << ", padding " << s_.padding;
  s << name_extra();
  if (s_.dilation != 1) s << ", dilation " << s_.dilation;
  if (s_.groups != 1) s << ", groups " << s_.groups;
  if (!s_.bias) s << ", no bias";
  s << ", " << to_string(s_.algo) << ")";
  return s.str();
}

std::string ConvLayer::name_for(const Shape& x) const {
  std::string s = name();
  if (s_.algo != ConvAlgo::Auto) return s;
  const ConvPlan p = plan(x);
  s.pop_back();
  return s + ": " + to_string(p[0].algo) + "/" + to_string(p[1].algo) + "/" +
         to_string(p[2].algo) + ")";
}

double ConvLayer::flops(const Shape& x) const {
  const ConvGeom g = geometry(x);
  return g.flops() + (s_.bias ? static_cast<double>(numel(output_shape(x))) : 0.0);
}

void ConvLayer::check_parameters() const {
  check_shape(shape_of(weight_), weight_shape_, name(), "weight");
  check_shape(shape_of(dweight_), weight_shape_, name(), "weight gradient");
  if (s_.bias) {
    check_shape(shape_of(bias_), {out_}, name(), "bias");
    check_shape(shape_of(dbias_), {out_}, name(), "bias gradient");
  }
}

std::vector<Parameter> ConvLayer::parameters() {
  std::vector<Parameter> p{{"weight", &weight_, &dweight_}};
  if (s_.bias) p.push_back({"bias", &bias_, &dbias_});
  return p;
}

}  // namespace minicnn
