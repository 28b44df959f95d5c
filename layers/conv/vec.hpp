// Eight or sixteen floats as one value (GCC and Clang vector extensions) and their
// in-register transposes, for the convolution loops that move values between lanes
// (Winograd's transforms, the strided path's sums). For the library's .cpp files.
#pragma once

#include <cstring>

#if defined(__GNUC__)
#define MINICNN_CONV_VEC 1

namespace minicnn {

// Eight or sixteen floats as one value: GCC and Clang lower the shuffles below to the
// target's own (unpack, shuffle and lane-permute instructions under AVX2, two-source
// permutes under AVX-512, pairs of SSE ones otherwise).
typedef float Vec8 __attribute__((vector_size(32)));
typedef int Idx8 __attribute__((vector_size(32)));
typedef float Vec16 __attribute__((vector_size(64)));
typedef int Idx16 __attribute__((vector_size(64)));
#pragma GCC diagnostic ignored "-Wpsabi"  // vectors pass only between inlined functions

// The 8×8 transpose of the rows r[0..7] in place: three rounds of two-vector shuffles.
[[gnu::always_inline]] inline void transpose8(Vec8 r[8]) {
  Vec8 t[8], u[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = __builtin_shuffle(r[i], r[i + 1], Idx8{0, 8, 1, 9, 4, 12, 5, 13});
    t[i + 1] = __builtin_shuffle(r[i], r[i + 1], Idx8{2, 10, 3, 11, 6, 14, 7, 15});
  }
  for (int i = 0; i < 8; i += 4)
    for (int h = 0; h < 2; ++h) {
      u[i + 2 * h] = __builtin_shuffle(t[i + h], t[i + 2 + h], Idx8{0, 1, 8, 9, 4, 5, 12, 13});
      u[i + 2 * h + 1] =
          __builtin_shuffle(t[i + h], t[i + 2 + h], Idx8{2, 3, 10, 11, 6, 7, 14, 15});
    }
  for (int i = 0; i < 4; ++i) {
    r[i] = __builtin_shuffle(u[i], u[i + 4], Idx8{0, 1, 2, 3, 8, 9, 10, 11});
    r[i + 4] = __builtin_shuffle(u[i], u[i + 4], Idx8{4, 5, 6, 7, 12, 13, 14, 15});
  }
}

// The 16×16 transpose: four rounds of the perfect shuffle, row 2i the low halves of rows
// i and i + 8 interleaved, row 2i + 1 their high halves.
[[gnu::always_inline]] inline void transpose16(Vec16 r[16]) {
  for (int round = 0; round < 4; ++round) {
    Vec16 t[16];
    for (int i = 0; i < 8; ++i) {
      t[2 * i] = __builtin_shuffle(
          r[i], r[i + 8], Idx16{0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23});
      t[2 * i + 1] = __builtin_shuffle(
          r[i], r[i + 8], Idx16{8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31});
    }
    for (int i = 0; i < 16; ++i) r[i] = t[i];
  }
}

}  // namespace minicnn
#else
#define MINICNN_CONV_VEC 0
#endif
