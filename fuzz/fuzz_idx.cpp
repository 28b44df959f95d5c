// libFuzzer target for the IDX reader (data/idx.cpp), raw and gzip: whatever the
// bytes, read_idx either returns an array whose data holds numel(dims) bytes or throws
// minicnn::Error. A crash, a sanitizer report, another exception, an allocation past
// libFuzzer's limit or a hang is a bug; its input belongs in
// tests/data/fuzz-regressions/idx/ once fixed.
#include <minicnn/data/idx.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = minicnn_fuzz::write_input(data, size);
  try {
    const minicnn::IdxArray a = minicnn::read_idx(path);
    if (a.dims.empty() || a.data.size() != minicnn::numel(a.dims)) std::abort();
  } catch (const minicnn::Error&) {
  }
  // The rank check runs after the header is read: ask for a rank the file may not have.
  try {
    minicnn::read_idx(path, size % 4 + 1);
  } catch (const minicnn::Error&) {
  }
  return 0;
}
