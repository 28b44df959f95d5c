#include "im2col_gemm.hpp"

#include <omp.h>

#include <algorithm>
#include <cstring>

#include "../../core/blas.hpp"
#include "../../core/ops.hpp"
#include "../../core/parallel.hpp"
#include "one_channel.hpp"
#include "pointwise.hpp"
#include "strided.hpp"

namespace minicnn {
namespace {


// How the N·OH·OW columns are cut into chunks and handed to threads. A chunk is
// either `images_per_chunk` whole images or one part of one image (when a single
// image's columns do not fit the workspace, or there are fewer images than threads).
struct ChunkPlan {
  std::size_t images_per_chunk = 1;  // >= 1 when chunks hold whole images, else 0
  std::size_t parts_per_image = 1;   // > 1 when images are split
  std::size_t part_cols = 0;         // columns of a part when images are split
  std::size_t chunks = 0;
  int threads = 1;
  std::size_t cols_floats = 0, stage_floats = 0, dw_floats = 0;  // per thread, aligned
  std::size_t per_thread() const { return cols_floats + stage_floats + dw_floats; }
};

ChunkPlan make_plan(const ConvGeom& g, ConvPass pass, int T, std::size_t limit_bytes) {
  const std::size_t R = g.col_rows(), P = g.out_plane();
  const std::size_t per_col = R + g.K;  // a column of col(x) and one of the staged y/dy
  const std::size_t extra = pass == ConvPass::BackwardWeights ? g.K * R + g.K : 0;
  // Each of a thread's three regions is rounded up to whole 64-byte lines.
  const std::size_t slack = 3 * (AlignedBuffer<float>::kAlign / sizeof(float));
  const std::size_t budget = limit_bytes / sizeof(float) / static_cast<std::size_t>(T);
  std::size_t j_mem =
      budget > extra + per_col + slack ? (budget - extra - slack) / per_col : 1;
  // A chunk's columns stay near kIm2colChunkBytes (on S2, S3, S7 and S8 of
  // bench_conv, 1-4 MiB chunks ran 20-30% faster than 16 MiB ones).
  j_mem = std::max<std::size_t>(1, std::min(j_mem, kIm2colChunkBytes / sizeof(float) / R));

  ChunkPlan p;
  const std::size_t T_ = static_cast<std::size_t>(T);
  if (j_mem >= P && g.N >= T_) {
    p.images_per_chunk = std::min(j_mem / P, (g.N + T_ - 1) / T_);
    // Chunks of equal size, a multiple of the threads in number: on R5 of bench_conv,
    // 64 images in chunks of 18 gave one thread 36 and the other 28.
    const std::size_t chunks = round_up((g.N + p.images_per_chunk - 1) / p.images_per_chunk, T_);
    p.images_per_chunk = (g.N + chunks - 1) / chunks;
    p.chunks = (g.N + p.images_per_chunk - 1) / p.images_per_chunk;
  } else {
    p.images_per_chunk = 0;
    std::size_t parts = (P + j_mem - 1) / j_mem;
    // Too few images to keep every thread busy: split each one further, except for
    // backward-data, whose col2im of two parts of one image would write the same rows.
    if (pass != ConvPass::BackwardData && g.N < T_) {
      parts = std::max(parts, std::min(P, (T_ + g.N - 1) / g.N));
    }
    p.parts_per_image = parts;
    p.part_cols = (P + parts - 1) / parts;
    p.chunks = g.N * parts;
  }
  const std::size_t J = p.images_per_chunk ? p.images_per_chunk * P : p.part_cols;
  std::size_t owners = p.chunks;
  if (pass == ConvPass::BackwardData && !p.images_per_chunk) owners = g.N;  // by image
  p.threads = static_cast<int>(std::max<std::size_t>(1, std::min(T_, owners)));
  p.cols_floats = aligned_count<float>(R * J);
  p.stage_floats = aligned_count<float>(g.K * J);
  p.dw_floats = extra ? aligned_count<float>(extra) : 0;
  return p;
}

// One piece of a chunk: columns [o0, o1) of image n, at column `at` of the chunk.
struct Segment {
  std::size_t n, o0, o1, at;
};

// Calls f(Segment) for every piece of chunk c; returns the chunk's column count.
template <class Fn>
std::size_t for_each_segment(const ConvGeom& g, const ChunkPlan& p, std::size_t c, Fn&& f) {
  const std::size_t P = g.out_plane();
  if (p.images_per_chunk) {
    const std::size_t n0 = c * p.images_per_chunk;
    const std::size_t n1 = std::min(g.N, n0 + p.images_per_chunk);
    for (std::size_t n = n0; n < n1; ++n) f(Segment{n, 0, P, (n - n0) * P});
    return (n1 - n0) * P;
  }
  const std::size_t n = c / p.parts_per_image;
  const std::size_t o0 = (c % p.parts_per_image) * p.part_cols;
  const std::size_t o1 = std::min(P, o0 + p.part_cols);
  if (o0 < o1) f(Segment{n, o0, o1, 0});
  return o1 > o0 ? o1 - o0 : 0;
}

// Runs body(thread_index, chunk) over all chunks. Chunks go round-robin to threads,
// or, when `by_image`, every chunk of image n to thread n mod threads.
template <class Body>
void run_chunks(const ChunkPlan& p, bool by_image, Body&& body) {
  for_each_part(p.threads, [&](int t) {
    const std::size_t tt = static_cast<std::size_t>(t), T = static_cast<std::size_t>(p.threads);
    for (std::size_t c = 0; c < p.chunks; ++c) {
      const std::size_t owner = by_image ? (c / p.parts_per_image) % T : c % T;
      if (owner == tt) body(t, c);
    }
  });
}

float* prepare(Im2colWorkspace& ws, const ChunkPlan& p) {
  return ws.buffer.ensure(p.per_thread() * static_cast<std::size_t>(p.threads));
}

// The pointwise path's scratch (pointwise.hpp; null when it needs none), and whether
// the path applies.
bool pointwise_scratch(const ConvGeom& g, ConvPass pass, int T, Im2colWorkspace& ws,
                       float** scratch) {
  if (!pointwise_eligible(g, pass, T, ws.limit_bytes)) return false;
  const std::size_t n = pointwise_scratch_floats(g, pass, T);
  *scratch = n ? ws.buffer.ensure(n) : nullptr;
  return true;
}

// The one-input-channel path's scratch (one_channel.hpp), or null when it does not apply.
float* one_channel_scratch(const ConvGeom& g, ConvPass pass, int T, Im2colWorkspace& ws) {
  if (!one_channel_eligible(g, pass, T, ws.limit_bytes)) return nullptr;
  return ws.buffer.ensure(static_cast<std::size_t>(one_channel_threads(g, pass, T)) *
                          one_channel_scratch_floats(g, pass));
}

// The strided path's scratch (strided.hpp), or null when it does not apply.
float* strided_scratch(const ConvGeom& g, ConvPass pass, int T, Im2colWorkspace& ws) {
  if (!strided_eligible(g, pass, T, ws.limit_bytes)) return nullptr;
  return ws.buffer.ensure(strided_scratch_floats(g, pass, T));
}

}  // namespace

std::size_t conv2d_im2col_workspace_bytes(const ConvGeom& g, ConvPass pass, int threads,
                                          std::size_t limit_bytes) {
  const int T = std::max(1, threads);
  if (pointwise_eligible(g, pass, T, limit_bytes))
    return pointwise_scratch_floats(g, pass, T) * sizeof(float);
  if (one_channel_eligible(g, pass, T, limit_bytes))
    return static_cast<std::size_t>(one_channel_threads(g, pass, T)) *
           one_channel_scratch_floats(g, pass) * sizeof(float);
  if (strided_eligible(g, pass, T, limit_bytes))
    return strided_scratch_floats(g, pass, T) * sizeof(float);
  const ChunkPlan p = make_plan(g, pass, T, limit_bytes);
  return p.per_thread() * static_cast<std::size_t>(p.threads) * sizeof(float);
}

// y = W·col(x) + b, one GEMM per chunk: (K × R) · (R × J) into the staging block,
// then each image's columns are copied out to y with the bias added.
void conv2d_im2col_forward(const ConvGeom& g, const float* x, const float* w, const float* b,
                           float* y, Im2colWorkspace& ws) {
  if (float* s = nullptr; pointwise_scratch(g, ConvPass::Forward, num_threads(), ws, &s))
    return pointwise_forward(g, x, w, b, y, s, num_threads());
  if (float* s = one_channel_scratch(g, ConvPass::Forward, num_threads(), ws))
    return one_channel_forward(g, x, w, b, y, s, num_threads());
  if (float* s = strided_scratch(g, ConvPass::Forward, num_threads(), ws))
    return strided_forward(g, x, w, b, y, s, num_threads());
  const ChunkPlan p = make_plan(g, ConvPass::Forward, num_threads(), ws.limit_bytes);
  float* base = prepare(ws, p);
  const std::size_t R = g.col_rows(), P = g.out_plane(), CHW = g.C * g.H * g.W;
  const ConvGeom one = g.group();
  const std::size_t Kg = one.K, group_x = one.C * g.H * g.W;
  run_chunks(p, false, [&](int t, std::size_t c) {
    float* cols = base + static_cast<std::size_t>(t) * p.per_thread();
    float* stage = cols + p.cols_floats;
    std::size_t J = 0;
    for_each_segment(g, p, c, [&](const Segment& s) { J = std::max(J, s.at + s.o1 - s.o0); });
    // Group by group: its channels' columns, then its rows of the staged y.
    for (std::size_t gi = 0; gi < g.groups; ++gi) {
      for_each_segment(g, p, c, [&](const Segment& s) {
        im2col(x + s.n * CHW + gi * group_x, one, s.o0, s.o1, cols + s.at, J);
      });
      sgemm(Op::N, Op::N, Kg, J, R, 1.0f, w + gi * Kg * R, R, cols, J, 0.0f,
            stage + gi * Kg * J, J);
    }
    for_each_segment(g, p, c, [&](const Segment& s) {
      const std::size_t len = s.o1 - s.o0;
      for (std::size_t k = 0; k < g.K; ++k) {
        const float* src = stage + k * J + s.at;
        float* dst = y + (s.n * g.K + k) * P + s.o0;
        const float bk = b ? b[k] : 0.0f;
        for (std::size_t i = 0; i < len; ++i) dst[i] = src[i] + bk;
      }
    });
  });
}

// dx = col2im(Wᵀ·dY): gather the chunk's dY (K × J), one GEMM (R × K)·(K × J), fold.
void conv2d_im2col_backward_data(const ConvGeom& g, const float* dy, const float* w, float* dx,
                                 Im2colWorkspace& ws) {
  if (float* s = nullptr; pointwise_scratch(g, ConvPass::BackwardData, num_threads(), ws, &s))
    return pointwise_backward_data(g, dy, w, dx, s, num_threads());
  if (float* s = one_channel_scratch(g, ConvPass::BackwardData, num_threads(), ws))
    return one_channel_backward_data(g, dy, w, dx, s, num_threads());
  if (float* s = strided_scratch(g, ConvPass::BackwardData, num_threads(), ws))
    return strided_backward_data(g, dy, w, dx, s, num_threads());
  const ChunkPlan p = make_plan(g, ConvPass::BackwardData, num_threads(), ws.limit_bytes);
  float* base = prepare(ws, p);
  const std::size_t R = g.col_rows(), P = g.out_plane(), CHW = g.C * g.H * g.W;
  const ConvGeom one = g.group();
  const std::size_t Kg = one.K, group_x = one.C * g.H * g.W;
  run_chunks(p, p.images_per_chunk == 0, [&](int t, std::size_t c) {
    float* cols = base + static_cast<std::size_t>(t) * p.per_thread();
    float* stage = cols + p.cols_floats;
    std::size_t J = 0;
    for_each_segment(g, p, c, [&](const Segment& s) { J = std::max(J, s.at + s.o1 - s.o0); });
    for_each_segment(g, p, c, [&](const Segment& s) {
      if (s.o0 == 0) std::fill(dx + s.n * CHW, dx + (s.n + 1) * CHW, 0.0f);
      for (std::size_t k = 0; k < g.K; ++k) {
        std::memcpy(stage + k * J + s.at, dy + (s.n * g.K + k) * P + s.o0,
                    (s.o1 - s.o0) * sizeof(float));
      }
    });
    for (std::size_t gi = 0; gi < g.groups; ++gi) {
      sgemm(Op::T, Op::N, R, J, Kg, 1.0f, w + gi * Kg * R, R, stage + gi * Kg * J, J, 0.0f,
            cols, J);
      for_each_segment(g, p, c, [&](const Segment& s) {
        col2im(cols + s.at, one, s.o0, s.o1, J, dx + s.n * CHW + gi * group_x);
      });
    }
  });
}

// dW += dY·col(x)ᵀ: (K × J)·(J × R) per chunk into a per-thread sum, added at the end;
// db += the row sums of dY.
void conv2d_im2col_backward_weights(const ConvGeom& g, const float* x, const float* dy,
                                    float* dw, float* db, Im2colWorkspace& ws) {
  if (float* s = nullptr; pointwise_scratch(g, ConvPass::BackwardWeights, num_threads(), ws, &s))
    return pointwise_backward_weights(g, x, dy, dw, db, s, num_threads());
  if (float* s = one_channel_scratch(g, ConvPass::BackwardWeights, num_threads(), ws))
    return one_channel_backward_weights(g, x, dy, dw, db, s, num_threads());
  if (float* s = strided_scratch(g, ConvPass::BackwardWeights, num_threads(), ws))
    return strided_backward_weights(g, x, dy, dw, db, s, num_threads());
  const ChunkPlan p = make_plan(g, ConvPass::BackwardWeights, num_threads(), ws.limit_bytes);
  float* base = prepare(ws, p);
  const std::size_t R = g.col_rows(), P = g.out_plane(), CHW = g.C * g.H * g.W;
  const ConvGeom one = g.group();
  const std::size_t Kg = one.K, group_x = one.C * g.H * g.W;
  for (int t = 0; t < p.threads; ++t) {
    float* part = base + static_cast<std::size_t>(t) * p.per_thread() + p.cols_floats + p.stage_floats;
    std::fill(part, part + g.K * R + g.K, 0.0f);
  }
  run_chunks(p, false, [&](int t, std::size_t c) {
    float* cols = base + static_cast<std::size_t>(t) * p.per_thread();
    float* stage = cols + p.cols_floats;
    float* dw_part = stage + p.stage_floats;
    float* db_part = dw_part + g.K * R;
    std::size_t J = 0;
    for_each_segment(g, p, c, [&](const Segment& s) { J = std::max(J, s.at + s.o1 - s.o0); });
    for_each_segment(g, p, c, [&](const Segment& s) {
      const std::size_t len = s.o1 - s.o0;
      for (std::size_t k = 0; k < g.K; ++k) {
        const float* src = dy + (s.n * g.K + k) * P + s.o0;
        std::memcpy(stage + k * J + s.at, src, len * sizeof(float));
        db_part[k] += static_cast<float>(sum_to_double(src, len));
      }
    });
    for (std::size_t gi = 0; gi < g.groups; ++gi) {
      for_each_segment(g, p, c, [&](const Segment& s) {
        im2col(x + s.n * CHW + gi * group_x, one, s.o0, s.o1, cols + s.at, J);
      });
      sgemm(Op::N, Op::T, Kg, R, J, 1.0f, stage + gi * Kg * J, J, cols, J, 1.0f,
            dw_part + gi * Kg * R, R);
    }
  });
  for (int t = 0; t < p.threads; ++t) {
    const float* dw_part =
        base + static_cast<std::size_t>(t) * p.per_thread() + p.cols_floats + p.stage_floats;
    for (std::size_t i = 0; i < g.K * R; ++i) dw[i] += dw_part[i];
    if (db)
      for (std::size_t k = 0; k < g.K; ++k) db[k] += dw_part[g.K * R + k];
  }
}

}  // namespace minicnn
