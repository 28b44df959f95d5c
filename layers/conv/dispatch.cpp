#include "dispatch.hpp"

#include <algorithm>

#include "../../core/ops.hpp"
#include "../../core/parallel.hpp"
#include "../../core/tensor.hpp"
#include "depthwise.hpp"
#include "direct.hpp"

namespace minicnn {
namespace {

void need(const void* p, const char* role, ConvAlgo algo, ConvPass pass, const std::string& who) {
  if (p == nullptr)
    throw Error(who + ": " + to_string(algo) + " " + to_string(pass) + " needs " + role +
                ", got a null pointer");
}

// The same three lines per algorithm: y = W ⋆ x + b, dx = Wᵀ ⋆ dy, dW += dy ⋆ x.
void run_algorithm(ConvAlgo algo, ConvPass pass, const ConvGeom& g, const ConvTensors& t,
                   ConvWorkspace& ws) {
  switch (algo) {
    case ConvAlgo::Direct:
      if (pass == ConvPass::Forward) conv2d_direct_forward(g, t.x, t.w, t.b, t.y);
      else if (pass == ConvPass::BackwardData) conv2d_direct_backward_data(g, t.dy, t.w, t.dx);
      else conv2d_direct_backward_weights(g, t.x, t.dy, t.dw, t.db);
      break;
    case ConvAlgo::Im2colGemm:
      if (pass == ConvPass::Forward) conv2d_im2col_forward(g, t.x, t.w, t.b, t.y, ws.im2col);
      else if (pass == ConvPass::BackwardData) conv2d_im2col_backward_data(g, t.dy, t.w, t.dx, ws.im2col);
      else conv2d_im2col_backward_weights(g, t.x, t.dy, t.dw, t.db, ws.im2col);
      break;
    case ConvAlgo::FFT:
      if (pass == ConvPass::Forward) conv2d_fft_forward(g, t.x, t.w, t.b, t.y, ws.fft);
      else if (pass == ConvPass::BackwardData) conv2d_fft_backward_data(g, t.dy, t.w, t.dx, ws.fft);
      else conv2d_fft_backward_weights(g, t.x, t.dy, t.dw, t.db, ws.fft);
      break;
    case ConvAlgo::Depthwise:
      if (pass == ConvPass::Forward) conv2d_depthwise_forward(g, t.x, t.w, t.b, t.y);
      else if (pass == ConvPass::BackwardData) conv2d_depthwise_backward_data(g, t.dy, t.w, t.dx);
      else conv2d_depthwise_backward_weights(g, t.x, t.dy, t.dw, t.db);
      break;
    case ConvAlgo::Winograd:
      if (pass == ConvPass::Forward) conv2d_winograd_forward(g, t.x, t.w, t.b, t.y, ws.winograd);
      else if (pass == ConvPass::BackwardData) conv2d_winograd_backward_data(g, t.dy, t.w, t.dx, ws.winograd);
      else conv2d_winograd_backward_weights(g, t.x, t.dy, t.dw, t.db, ws.winograd);
      break;
    case ConvAlgo::Auto: break;
  }
}

// What a pass wrote holds a NaN or an Inf: y, dx, or the dw and db it added into.
bool wrote_non_finite(ConvPass pass, const ConvGeom& g, const ConvTensors& t) {
  switch (pass) {
    case ConvPass::Forward: return !all_finite(t.y, g.N * g.K * g.OH * g.OW);
    case ConvPass::BackwardData: return !all_finite(t.dx, g.N * g.C * g.H * g.W);
    case ConvPass::BackwardWeights:
      return !all_finite(t.dw, g.weight_numel()) || (t.db && !all_finite(t.db, g.K));
  }
  return false;
}

}  // namespace

bool conv_algo_eligible(ConvAlgo a, const ConvGeom& g) {
  switch (a) {
    case ConvAlgo::Direct:
    case ConvAlgo::Im2colGemm: return true;
    case ConvAlgo::FFT: return g.groups == 1 && g.stride == 1 && g.dilation == 1;
    case ConvAlgo::Winograd:
      return g.groups == 1 && g.KH == g.KW && (g.KH == 3 || g.KH == 5) && g.stride == 1 &&
             g.dilation == 1;
    case ConvAlgo::Depthwise: return g.group_in() == 1;
    case ConvAlgo::Auto: return false;
  }
  return false;
}

std::size_t conv_workspace_bytes(ConvAlgo a, const ConvGeom& g, ConvPass pass, int threads,
                                 std::size_t limit) {
  switch (a) {
    case ConvAlgo::Im2colGemm: return conv2d_im2col_workspace_bytes(g, pass, threads, limit);
    case ConvAlgo::FFT: return conv2d_fft_workspace_bytes(g, threads);
    case ConvAlgo::Winograd: return conv2d_winograd_workspace_bytes(g, pass, threads, limit);
    default: return 0;
  }
}

void conv2d_run(ConvAlgo algo, ConvPass pass, const ConvGeom& g, const ConvTensors& t,
                ConvWorkspace& ws, const std::string& who) {
  if (algo == ConvAlgo::Auto)
    throw Error(who + ": conv2d_run needs an algorithm, got auto (choose one with conv_select)");
  if (algo == ConvAlgo::FFT) check_fft_geom(g, who);
  if (algo == ConvAlgo::Winograd) check_winograd_geom(g, who);
  if (!conv_algo_eligible(algo, g)) {
    throw Error(who + ": the " + to_string(algo) + " algorithm cannot run this convolution" +
                (g.groups != 1 ? " of " + std::to_string(g.groups) + " groups" : std::string()) +
                (algo == ConvAlgo::Depthwise ? " (it needs one input channel per group)"
                                             : std::string()));
  }
  switch (pass) {
    case ConvPass::Forward:
      need(t.x, "x", algo, pass, who);
      need(t.w, "w", algo, pass, who);
      need(t.y, "y", algo, pass, who);
      break;
    case ConvPass::BackwardData:
      need(t.dy, "dy", algo, pass, who);
      need(t.w, "w", algo, pass, who);
      need(t.dx, "dx", algo, pass, who);
      break;
    case ConvPass::BackwardWeights:
      need(t.x, "x", algo, pass, who);
      need(t.dy, "dy", algo, pass, who);
      need(t.dw, "dw", algo, pass, who);
      break;
  }
  // A transform mixes every value of a plane (FFT) or a tile (Winograd): one NaN or Inf
  // in the inputs would spread over the whole plane or tile of the output. When what such
  // a pass wrote is not all finite, the pass runs again by im2col, which takes the NaN
  // only to the outputs that touch it (and gives what the textbook loops give where a
  // transform overflowed). An output that a NaN or Inf input touches is not finite by
  // any algorithm, so the scan of what the pass wrote finds every such input: one
  // tensor to read where the inputs were two, and for backward-weights only dw and db
  // (kept as they were before the pass, to add into again).
  if (algo == ConvAlgo::FFT || algo == ConvAlgo::Winograd) {
    const bool adds = pass == ConvPass::BackwardWeights;
    const std::size_t wn = g.weight_numel();
    if (adds) {
      ws.before.resize(wn + (t.db ? g.K : 0));
      std::copy(t.dw, t.dw + wn, ws.before.begin());
      if (t.db) std::copy(t.db, t.db + g.K, ws.before.begin() + wn);
    }
    run_algorithm(algo, pass, g, t, ws);
    if (!wrote_non_finite(pass, g, t)) return;
    if (adds) {
      std::copy(ws.before.begin(), ws.before.begin() + wn, t.dw);
      if (t.db) std::copy(ws.before.begin() + wn, ws.before.end(), t.db);
    }
    algo = ConvAlgo::Im2colGemm;
  }
  run_algorithm(algo, pass, g, t, ws);
}

}  // namespace minicnn
