// Convolution by Winograd's minimal filtering F(m×m, 3×3), for 3×3 kernels, stride 1
// and dilation 1 (any padding); Lavin & Gray 2016. The conv2d_winograd_* functions below
// also take 5×5 kernels, which run F(4×4, 5×5) (winograd5.hpp); what follows is the
// 3×3 branch.
//
// x is (N,C,H,W), w is (K,C,3,3), y is (N,K,OH,OW), OH = H + 2p − 2. The output plane
// is cut into m×m tiles, TH = ⌈OH/m⌉ by TW = ⌈OW/m⌉ of them (the last row and column
// may stick out and are cropped); tile (th, tw) reads the α×α input patch d (α = m + 2)
// whose corner is x[th·m − p, tw·m − p], zero outside the image. With the transform
// matrices of F(m, 3) (winograd_matrices: Bᵀ α×α, G α×3, Aᵀ m×α),
//   y_tile[k] = Aᵀ [ Σ_c (G w[k,c] Gᵀ) ⊙ (Bᵀ d[c] B) ] A + b[k]
// where ⊙ multiplies elementwise: α² multiplications per tile and channel pair where
// the direct sum takes 9·m². So at each of the α² points ξ the sum over channels is
// one matrix product over a block of tiles,
//   M_ξ (K × tiles) = U_ξ (K × C) · V_ξ (C × tiles),   U = G w Gᵀ,  V = Bᵀ d B,
// and the algorithm is four stages, each its own function: input transform (V of one
// block), kernel transform (U, once per call), the α² per-point GEMMs, output
// transform (Aᵀ M A + b, cropped into y).
//   forward           as above.
//   backward-data     dx[n,c] = Σ_k rot180(w[k,c]) ⋆ dy[n,k]: the same algorithm on
//                     dy with the kernels rotated 180° and C, K swapped; patches start
//                     at dy[h + p − 2, ...] (dy "padded by 2 − p"; for p > 2 that is a
//                     crop), and the output plane is H × W.
//   backward-weights  the F(3×3, m×m) form, a dy tile e (m×m) in the kernel's role:
//                     dW[k,c] += Gᵀ [ Σ_tiles (A e[k] Aᵀ) ⊙ (Bᵀ d[c] B) ] G,
//                     db[k] += Σ dy; at each point S_ξ (K × C) += E_ξ (K × tiles) ·
//                     V_ξᵀ (tiles × C), summed over every block, transformed back once.
// (F(3, m) uses the same three matrices in other roles: the trilinear form
// Σ_ξ (A e)_ξ (G g)_ξ (Bᵀ d)_ξ = Σ_i Σ_j e_i g_j d_(i+j) read for g instead of e.)
//
// Tiles are processed in blocks of consecutive tiles (across rows and images too) whose
// V and M stay near kWinogradBlockBytes (but no fewer than kWinogradMinBlockTiles tiles,
// nor than channels), transformed right before their GEMMs; each thread takes whole
// blocks and calls a single-threaded sgemm, and the transforms run eight tiles at a
// time, compiled for AVX2 too where the CPU has it. The workspace is bounded by
// WinogradWorkspace::limit_bytes, raised when needed to its minimum: the transformed
// kernels U (α²·K·C floats, shared), one tile per thread, and for backward-weights one
// α²·K·C partial sum S per thread.
//
// Larger tiles save more multiplications ((m+2)²/m² per output against 9) but their
// transforms have larger entries, so float rounding grows with m:
// tests/test_conv_algorithms.cpp and docs/walkthrough.md measure it.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "../../core/buffer.hpp"
#include "geometry.hpp"

namespace minicnn {

// Each thread's block of transformed tiles (V and M) stays near this size, so the
// GEMMs of the α² points read what the transform just wrote from cache.
inline constexpr std::size_t kWinogradBlockBytes = std::size_t{1} << 20;
// The fewest tiles a block gets, and no fewer than it has channels, when the cache size
// alone would give it fewer: the GEMMs (Cout × tiles × Cin) are then too narrow. With
// 256 channels, 1 MiB holds 14 tiles; blocks of 64 ran 30% faster, of 256 another 20%.
inline constexpr std::size_t kWinogradMinBlockTiles = 64;

struct WinogradWorkspace {
  static constexpr std::size_t kDefaultLimit = std::size_t{64} << 20;  // 64 MiB
  std::size_t limit_bytes = kDefaultLimit;
  // m of F(m×m, 3×3), one of winograd_tile_sizes(); 0 picks by geometry
  // (winograd_tile_size). 5×5 kernels always run F(4×4, 5×5) and leave it alone.
  std::size_t tile = 0;
  AlignedBuffer<float> buffer;
};

// The transform matrices of F(m, 3), row-major: Bt (α×α), G (α×3), At (m×α), from the
// interpolation points (α − 1 finite ones and ∞).
struct WinogradMatrices {
  std::size_t m = 0, alpha = 0;
  std::vector<double> points;  // the finite ones
  std::vector<float> Bt, G, At;
};

// The tile sizes implemented: 2, 4, 6.
const std::vector<std::size_t>& winograd_tile_sizes();
// Throws Error unless m is one of winograd_tile_sizes().
WinogradMatrices winograd_matrices(std::size_t m);
// The tile size a pass runs with when the workspace leaves it to the geometry: the
// one of the kept sizes with the fewest transformed points over the pass's output
// plane (⌈OH/m⌉·⌈OW/m⌉·(m+2)²), the smaller on a tie; 4 for a 5×5 kernel.
std::size_t winograd_tile_size(const ConvGeom& g, ConvPass pass);

// Throws Error (naming `who`) unless g has a 3×3 or 5×5 kernel, stride 1 and dilation 1.
void check_winograd_geom(const ConvGeom& g, const std::string& who = "conv2d_winograd");
// Bytes of workspace one pass will use with `threads` threads, tile m (0: by geometry).
std::size_t conv2d_winograd_workspace_bytes(
    const ConvGeom& g, ConvPass pass, int threads,
    std::size_t limit_bytes = WinogradWorkspace::kDefaultLimit, std::size_t tile = 0);

// forward overwrites y; b may be null.
void conv2d_winograd_forward(const ConvGeom& g, const float* x, const float* w, const float* b,
                             float* y, WinogradWorkspace& ws);
// Overwrites dx.
void conv2d_winograd_backward_data(const ConvGeom& g, const float* dy, const float* w,
                                   float* dx, WinogradWorkspace& ws);
// Adds into dw and db (db may be null).
void conv2d_winograd_backward_weights(const ConvGeom& g, const float* x, const float* dy,
                                      float* dw, float* db, WinogradWorkspace& ws);

}  // namespace minicnn
