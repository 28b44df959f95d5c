// A program of a user's own that draws a plot with the installed minicnn::viz.
#include <minicnn/viz/plot.hpp>

#include <iostream>

int main() {
  using namespace minicnn;
  const Image img =
      line_plot({{.name = "loss", .values = {1.0, 0.5, 0.25}}}, {.width = 320, .height = 200});
  release_font_caches();  // clean under LeakSanitizer (scripts/sanitize.sh)
  if (img.width != 320 || img.height != 200 || img.channels != 3) {
    std::cout << "consumer_viz: a " << img.width << "x" << img.height << "x" << img.channels
              << " picture\n";
    return 1;
  }
  std::cout << "consumer_viz ok\n";
  return 0;
}
