// Winograd's F(4×4, 5×5), the 5×5 kernels' branch of the Winograd algorithm (stride 1,
// dilation 1, one group): conv2d_winograd_* in winograd.hpp call these for a 5×5 kernel.
//
// The output is cut into 4×4 tiles; tile (th, tw) reads the 8×8 input patch d at
// (4·th + off, 4·tw + off), zero outside the plane, and with the matrices of F(4, 5)
// (points 0, ±1, ±2, ±1/2 and ∞: Bᵀ 8×8, G 8×5, Aᵀ 4×8)
//   y_tile[k] = Aᵀ [ Σ_c (G w[k,c] Gᵀ) ⊙ (Bᵀ d[c] B) ] A + b[k],
// 64 multiplications per tile and channel pair where the loops do 16·25 = 400. The sum
// over c at each of the 64 points is one GEMM over a block of tiles, as in the 3×3
// branch. Backward-data is the same correlation of dy with the kernels turned by 180°
// (off = p − 4); backward-weights reads the trilinear form for the kernel:
//   dW[k,c] += Gᵀ [ Σ_tiles (A e[k] Aᵀ) ⊙ (Bᵀ d[c] B) ] G,  e the 4×4 tile of dy.
//
// Layout: the inputs of a group of images are first copied channel-last and zero-framed
// (image, row, column, channel rounded up to 16), so that a tile's 64 input vectors of
// 16 channels are plain loads and the transforms run with lanes over channels; V, M and
// E are [point][tile][channel]. Each thread takes whole blocks of tiles, sized so that
// their V and M stay near kWinogradBlockBytes, and calls a single-threaded sgemm per point;
// the groups of images are as large as the workspace limit allows.
#pragma once

#include <cstddef>

#include "../../core/buffer.hpp"
#include "geometry.hpp"

namespace minicnn {

// Floats of workspace one pass uses with `threads` threads and a limit of `limit_bytes`
// (WinogradWorkspace::limit_bytes, raised when needed to one image and one tile per
// block: the images per group shrink first, then the blocks).
std::size_t winograd5_workspace_floats(const ConvGeom& g, ConvPass pass, int threads,
                                      std::size_t limit_bytes);

// Tiles backward-data transforms: dx's, or dy's where it scatters them (padding 0 or 1,
// where dy has at most 3/4 of dx's tiles: each 4×4 tile e of dy is added into dx as the
// 8×8 patch B [Σ_k (G w[k,c] Gᵀ) ⊙ (A e[k] Aᵀ)] Bᵀ, the forward's map transposed).
std::size_t winograd5_backward_data_tiles(const ConvGeom& g);

// Overwrites y (b may be null).
void winograd5_forward(const ConvGeom& g, const float* x, const float* w, const float* b,
                       float* y, AlignedBuffer<float>& buf, std::size_t limit_bytes);
// Overwrites dx.
void winograd5_backward_data(const ConvGeom& g, const float* dy, const float* w, float* dx,
                             AlignedBuffer<float>& buf, std::size_t limit_bytes);
// Adds into dw and db (db may be null).
void winograd5_backward_weights(const ConvGeom& g, const float* x, const float* dy, float* dw,
                                float* db, AlignedBuffer<float>& buf, std::size_t limit_bytes);

}  // namespace minicnn
