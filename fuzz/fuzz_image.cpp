// libFuzzer target for the PGM reader behind read_image (io/image.cpp): whatever
// the bytes, read_image returns a grey image whose pixels fill width × height, or throws
// minicnn::Error. Only inputs that read_image hands to our own parser (they start "P2"
// or "P5") are tried: the other formats go to stb_image, which is not ours and not
// instrumented here. A crash, a sanitizer report, another exception, an allocation past
// libFuzzer's limit or a hang is a bug; its input belongs in
// tests/data/fuzz-regressions/image/ once fixed.
#include <minicnn/io/image.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2 || data[0] != 'P' || (data[1] != '2' && data[1] != '5')) return -1;  // not kept
  const std::string path = minicnn_fuzz::write_input(data, size);
  try {
    const minicnn::Image img = minicnn::read_image(path);
    if (img.channels != 1 || img.width == 0 || img.height == 0 ||
        img.pixels.size() != img.width * img.height)
      std::abort();
  } catch (const minicnn::Error&) {
  }
  return 0;
}
