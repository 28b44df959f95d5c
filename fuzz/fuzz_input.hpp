// What the fuzz targets share: the readers take a path, so each input is written to a
// file of this process first (in $TMPDIR, else /tmp), which is removed at exit.
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace minicnn_fuzz {

// A plain array, not a std::string, so that it is still there when the atexit handler runs.
inline const char* input_path() {
  static char path[4096] = {};
  if (path[0] == '\0') {
    const char* dir = std::getenv("TMPDIR");
    std::snprintf(path, sizeof path, "%s/minicnn-fuzz-%ld.bin", dir && *dir ? dir : "/tmp",
                  static_cast<long>(::getpid()));
    std::atexit([] { std::remove(input_path()); });
  }
  return path;
}

// Writes the input to input_path() and returns that path; aborts if it cannot, since a
// fuzzer that reads a stale file would test nothing.
inline std::string write_input(const std::uint8_t* data, std::size_t size) {
  const char* path = input_path();
  std::FILE* f = std::fopen(path, "wb");
  if (f == nullptr) std::abort();
  const bool ok = (size == 0 || std::fwrite(data, 1, size, f) == size);
  if (std::fclose(f) != 0 || !ok) std::abort();
  return path;
}

}  // namespace minicnn_fuzz
