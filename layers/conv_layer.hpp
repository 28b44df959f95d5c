// ConvLayer: what Conv2D and ConvTranspose2D share. A weight and an optional bias with
// their gradients, the settings every convolution has, the workspaces of the conv
// algorithms, and the plan: which algorithm runs each of the layer's three passes,
// chosen per input geometry and thread count (Auto), or the one asked for.
#pragma once

#include <array>
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "conv/dispatch.hpp"
#include "conv/select.hpp"
#include "layer.hpp"

namespace minicnn {

struct Kernel2D {
  std::size_t h, w;
  Kernel2D(std::size_t k) : h(k), w(k) {}  // NOLINT: a square kernel from one size
  Kernel2D(std::size_t kh, std::size_t kw) : h(kh), w(kw) {}
};

// Conv2D's options, which are also the settings every convolution layer has.
struct Conv2DOptions {
  // groups as PyTorch's: in- and out-channels split into `groups` groups, each group of
  // outputs seeing its own group of inputs; groups = in_channels is depthwise.
  std::size_t stride = 1, padding = 0, dilation = 1, groups = 1;
  bool bias = true;
  ConvAlgo algo = ConvAlgo::Auto;
  bool autotune = false;
  std::size_t workspace_limit = Im2colWorkspace::kDefaultLimit;
};

// Per pass of the layer: forward, backward-data, backward-weights.
using ConvPlan = std::array<ConvChoice, 3>;

class ConvLayer : public Layer {
 public:
  std::vector<Parameter> parameters() override;
  // "Conv2D(20->50, 5x5, stride 2, padding 1, auto)"
  std::string name() const override;
  // name() with the algorithm of each pass for input x: "Conv2D(20->50, 5x5, auto:
  // winograd/winograd/winograd)" (forward/backward-data/backward-weights).
  std::string name_for(const Shape& x) const override;
  double flops(const Shape& x) const override;

  Tensor& weight() { return weight_; }
  Tensor& bias() { return bias_; }  // empty without a bias
  Tensor& weight_grad() { return dweight_; }
  Tensor& bias_grad() { return dbias_; }
  // Another algorithm from now on; throws Error naming the layer when it cannot run
  // this layer's geometry. A backward before the next forward throws.
  void set_algo(ConvAlgo a);

  // Which algorithm each pass runs for an input of shape x, its measured or estimated
  // time in seconds, and its workspace in bytes; cached per geometry and thread count.
  ConvPlan plan(const Shape& x) const;
  // The geometry of the convolution the layer runs for input x (ConvTranspose2D: the
  // one it transposes); throws Error naming the layer on a bad shape.
  virtual ConvGeom geometry(const Shape& x) const = 0;

 protected:
  using Settings = Conv2DOptions;
  // Validates the sizes (Error naming `kind`), allocates the weight of weight_shape
  // He-normal for fan_in and a zero bias of `out`. passes[i] is the Conv2D pass that
  // the layer's pass i runs.
  ConvLayer(const char* kind, std::size_t in, std::size_t out, Kernel2D kernel, Settings s,
            const Shape& weight_shape, std::size_t fan_in, std::array<ConvPass, 3> passes);

  // channels / groups, or 0 for 0 groups (which the constructor then refuses): for the
  // weight shapes the subclasses compute before ConvLayer's checks run.
  static std::size_t per_group(std::size_t channels, std::size_t groups) {
    return groups ? channels / groups : 0;
  }
  // Throws Error naming the layer and both shapes when a parameter or gradient tensor
  // was replaced by one of another shape (weight() and the others are references).
  void check_parameters() const;
  // The workspace one call runs on. In training mode the layer's own (its FFT spectra
  // serve forward and backward alike); in eval mode the layer's own when no other
  // thread holds it, else one from a pool that grows to the number of threads running
  // the layer at once, so that threads sharing the model never share a workspace.
  class Workspace {
   public:
    explicit Workspace(ConvLayer& layer);
    ~Workspace();
    Workspace(const Workspace&) = delete;
    Workspace& operator=(const Workspace&) = delete;
    ConvWorkspace& get() { return *ws_; }

   private:
    ConvLayer& layer_;
    std::unique_lock<std::mutex> own_;
    std::unique_ptr<ConvWorkspace> pooled_;
    ConvWorkspace* ws_;
  };
  // Runs the layer's pass i (0 forward, 1 backward-data, 2 backward-weights) by the plan.
  void run(int i, const ConvGeom& g, const ConvTensors& t, const ConvPlan& p,
           ConvWorkspace& ws);
  // Text for name() after the padding (ConvTranspose2D's output_padding).
  virtual std::string name_extra() const { return {}; }

  const char* kind_;
  std::size_t in_, out_;
  Kernel2D kernel_;
  Settings s_;
  Shape weight_shape_;
  std::array<ConvPass, 3> passes_;
  Tensor weight_, bias_, dweight_, dbias_;

 private:
  // What threads running forward in eval mode share, each part behind its mutex. A
  // moved layer gets fresh mutexes (a mutex cannot move).
  struct Shared {
    std::mutex ws_mutex;  // held by the Workspace that uses ws
    ConvWorkspace ws;
    std::mutex pool_mutex;
    std::vector<std::unique_ptr<ConvWorkspace>> pool;  // free workspaces of eval calls
    std::mutex plans_mutex;
    std::map<std::pair<ConvGeom, int>, ConvPlan> plans;  // by geometry and threads

    Shared() = default;
    Shared(Shared&& o) noexcept : ws(std::move(o.ws)), plans(std::move(o.plans)) {}
    Shared& operator=(Shared&& o) noexcept {
      ws = std::move(o.ws);
      pool.clear();
      plans = std::move(o.plans);
      return *this;
    }
  };
  ConvWorkspace new_workspace() const;
  mutable Shared shared_;
};

}  // namespace minicnn
