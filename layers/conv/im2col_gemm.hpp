// Convolution as im2col + GEMM.
//
// x is (N,C,H,W), w is (K,C,KH,KW) read as the matrix W (K × C·KH·KW), y is
// (N,K,OH,OW). Every output position of every image is one column j = n·OH·OW + o of
// the unfolded input col(x) (C·KH·KW × N·OH·OW), so the three passes are GEMMs:
//   forward           Y  = W · col(x) + b
//   backward-data     dx = col2im(Wᵀ · dY)
//   backward-weights  dW += dY · col(x)ᵀ,   db += Σ_columns dY
// With G groups (w is (K, C/G, KH, KW)) these are G GEMMs per chunk, group g's rows of
// W and dY against the columns of its own C/G channels, unfolded one group at a time
// into the same scratch.
// The columns are processed in chunks: a chunk spans several small images (so that a
// LeNet-sized layer still makes one wide GEMM) or part of a large one, and each thread
// takes whole chunks with a single-threaded GEMM, which keeps OpenBLAS and our loops
// from competing for the cores. All scratch lives in an Im2colWorkspace whose size is
// bounded by its limit, never by the batch. (A limit too small for one column per
// thread, plus for backward-weights one K × C·KH·KW partial sum per thread, is raised
// to that minimum.)
#pragma once

#include <cstddef>

#include "../../core/buffer.hpp"
#include "im2col.hpp"
#include "geometry.hpp"

namespace minicnn {

// The unfolded columns of one chunk stay near this size, so that the GEMM reads them
// from cache right after im2col wrote them.
inline constexpr std::size_t kIm2colChunkBytes = std::size_t{2} << 20;

struct Im2colWorkspace {
  static constexpr std::size_t kDefaultLimit = std::size_t{64} << 20;  // 64 MiB
  std::size_t limit_bytes = kDefaultLimit;
  AlignedBuffer<float> buffer;
};

// Bytes of workspace one pass will use for this geometry with `threads` threads.
std::size_t conv2d_im2col_workspace_bytes(const ConvGeom& g, ConvPass pass, int threads,
                                          std::size_t limit_bytes = Im2colWorkspace::kDefaultLimit);

// forward overwrites y; b may be null.
void conv2d_im2col_forward(const ConvGeom& g, const float* x, const float* w, const float* b,
                           float* y, Im2colWorkspace& ws);
// Overwrites dx.
void conv2d_im2col_backward_data(const ConvGeom& g, const float* dy, const float* w, float* dx,
                                 Im2colWorkspace& ws);
// Adds into dw and db (db may be null).
void conv2d_im2col_backward_weights(const ConvGeom& g, const float* x, const float* dy,
                                    float* dw, float* db, Im2colWorkspace& ws);

}  // namespace minicnn
