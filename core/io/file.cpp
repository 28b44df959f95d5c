#include "file.hpp"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>

#include "../tensor.hpp"

namespace minicnn {

namespace {

[[noreturn]] void fail(std::string_view who, const std::string& path, const std::string& fault) {
  std::string msg(who);
  msg += ": ";
  msg += path;
  msg += ": ";
  msg += fault;
  throw Error(msg);
}

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;

}  // namespace

std::vector<std::uint8_t> read_file(const std::string& path, std::string_view who) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) fail(who, path, "is a directory, not a file");
  FilePtr f(std::fopen(path.c_str(), "rb"));
  if (!f) fail(who, path, std::string("cannot open: ") + std::strerror(errno));
  std::vector<std::uint8_t> bytes;
  const auto size = std::filesystem::file_size(path, ec);
  if (!ec) bytes.reserve(size);
  std::uint8_t chunk[1 << 16];
  for (;;) {
    const std::size_t n = std::fread(chunk, 1, sizeof chunk, f.get());
    bytes.insert(bytes.end(), chunk, chunk + n);
    if (n < sizeof chunk) break;
  }
  if (std::ferror(f.get())) fail(who, path, std::string("read error: ") + std::strerror(errno));
  return bytes;
}

void write_file_atomic(const std::string& path, const void* data, std::size_t size,
                       std::string_view who) {
  // pid and a counter keep concurrent writers (threads or processes) off each other's
  // temporary; "x" refuses to reuse a name that exists.
  static std::atomic<unsigned> counter{0};
  const std::string tmp =
      path + ".tmp-" + std::to_string(::getpid()) + "-" + std::to_string(counter.fetch_add(1));
  FilePtr f(std::fopen(tmp.c_str(), "wbx"));
  if (!f) fail(who, path, "cannot create " + tmp + ": " + std::strerror(errno));
  // Write, flush and close, keeping errno of the first call that fails.
  bool ok = true;
  int err = 0;
  auto check = [&](bool good) {
    if (!good && ok) ok = false, err = errno;
  };
  errno = 0;
  check(size == 0 || std::fwrite(data, 1, size, f.get()) == size);
  check(std::fflush(f.get()) == 0);
  check(std::fclose(f.release()) == 0);
  if (!ok) {
    std::remove(tmp.c_str());
    fail(who, path, std::string("write error: ") + (err ? std::strerror(err) : "unknown"));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int e = errno;
    std::remove(tmp.c_str());
    fail(who, path, "cannot rename " + tmp + " over it: " + std::strerror(e));
  }
}

}  // namespace minicnn
