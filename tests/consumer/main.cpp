// A program of a user's own that links minicnn from its installed package.
#include <minicnn/minicnn.hpp>

#include <cmath>
#include <iostream>

int main() {
  using namespace minicnn;
  // A 2x2 box filter over a 3x3 ramp through im2col and one sgemm.
  const ConvGeom g = ConvGeom::make(1, 1, 3, 3, 1, 2, 2);
  const float x[9] = {0, 1, 2, 3, 4, 5, 6, 7, 8};
  const float w[4] = {1, 1, 1, 1};
  float cols[4 * 4];
  float y[4];
  im2col(x, g, 0, g.out_plane(), cols, g.out_plane());
  sgemm(Op::N, Op::N, 1, 4, 4, 1.0f, w, 4, cols, 4, 0.0f, y, 4);
  const float want[4] = {8, 12, 20, 24};
  for (int i = 0; i < 4; ++i) {
    if (std::abs(y[i] - want[i]) > 1e-5f) {
      std::cout << "consumer wrong at " << i << ": " << y[i] << "\n";
      return 1;
    }
  }
  std::cout << "consumer ok\n";
  return 0;
}
