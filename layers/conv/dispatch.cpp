#include "dispatch.hpp"

#include "../../core/tensor.hpp"
#include "direct.hpp"

namespace minicnn {
namespace {

void need(const void* p, const char* role, ConvAlgo algo, ConvPass pass, const std::string& who) {
  if (p == nullptr)
    throw Error(who + ": " + to_string(algo) + " " + to_string(pass) + " needs " + role +
                ", got a null pointer");
}

}  // namespace

bool conv_algo_eligible(ConvAlgo a, const ConvGeom& g) {
  switch (a) {
    case ConvAlgo::Direct:
    case ConvAlgo::Im2colGemm: return true;
    case ConvAlgo::FFT: return g.stride == 1 && g.dilation == 1;
    case ConvAlgo::Winograd: return g.KH == 3 && g.KW == 3 && g.stride == 1 && g.dilation == 1;
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
  // The same three lines per algorithm: y = W ⋆ x + b, dx = Wᵀ ⋆ dy, dW += dy ⋆ x.
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
    case ConvAlgo::Winograd:
      if (pass == ConvPass::Forward) conv2d_winograd_forward(g, t.x, t.w, t.b, t.y, ws.winograd);
      else if (pass == ConvPass::BackwardData) conv2d_winograd_backward_data(g, t.dy, t.w, t.dx, ws.winograd);
      else conv2d_winograd_backward_weights(g, t.x, t.dy, t.dw, t.db, ws.winograd);
      break;
    case ConvAlgo::Auto: break;
  }
}

}  // namespace minicnn
