#include "file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>

#include "../core/tensor.hpp"

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

// A write that failed: the target keeps its old content, which is worth saying.
[[noreturn]] void fail_write(std::string_view who, const std::string& path, const char* what,
                             int err) {
  fail(who, path,
       std::string(what) + ": " + (err ? std::strerror(err) : "unknown error") +
           " (the previous file, if any, is unchanged)");
}

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;

std::atomic<AtomicWriteHook> g_atomic_write_hook{nullptr};

// The temporary beside the target: created with O_EXCL under a name that no other writer
// (thread or process) uses, and closed and removed on scope exit unless renamed.
class TempFile {
 public:
  TempFile(const std::string& target, std::string_view who) {
    static std::atomic<unsigned> counter{0};
    const std::string stem = target + ".tmp-" + std::to_string(::getpid()) + "-";
    // A name can exist only when a killed process of the same pid left it behind.
    for (int attempt = 0; attempt < 100; ++attempt) {
      path_ = stem + std::to_string(counter.fetch_add(1));
      fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
      if (fd_ >= 0) return;
      if (errno != EEXIST) break;
    }
    const int err = errno;
    fail(who, target, "cannot create the temporary " + path_ + " beside it: " + std::strerror(err));
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!renamed_) ::unlink(path_.c_str());
  }

  int fd() const { return fd_; }
  const std::string& path() const { return path_; }
  // Closes the descriptor, returning close()'s result.
  int close() { return ::close(std::exchange(fd_, -1)); }
  void renamed() { renamed_ = true; }

 private:
  std::string path_;
  int fd_ = -1;
  bool renamed_ = false;
};

// Where a write to path lands: path itself, or the file its chain of symbolic links
// names (written in place of the link would leave the target stale). Throws Error when
// that is something other than a regular file or nothing (a folder, a device, a pipe),
// which a rename would replace. *mode is the existing file's permission bits, or -1.
std::string write_target(const std::string& path, std::string_view who, int* mode) {
  namespace fs = std::filesystem;
  fs::path p = path;
  std::error_code ec;
  for (int hops = 0; fs::is_symlink(fs::symlink_status(p, ec)); ++hops) {
    if (hops == 40) fail(who, path, "too many levels of symbolic links");
    const fs::path next = fs::read_symlink(p, ec);
    if (ec) fail(who, path, "cannot read the symbolic link " + p.string() + ": " + ec.message());
    p = next.is_absolute() ? next : p.parent_path() / next;
  }
  const fs::file_status st = fs::status(p, ec);
  *mode = -1;
  if (st.type() == fs::file_type::not_found) return p.string();
  if (st.type() != fs::file_type::regular) {
    const char* kind = st.type() == fs::file_type::directory ? "a directory"
                       : st.type() == fs::file_type::character || st.type() == fs::file_type::block
                           ? "a device"
                           : "not a regular file";
    fail(who, path, std::string("is ") + kind + (p.string() == path ? "" : " (" + p.string() + ")") +
                        "; refusing to replace it with a file");
  }
  *mode = static_cast<int>(st.permissions() & fs::perms::mask);
  return p.string();
}

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

void FileSink::write(const void* data, std::size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t k = ::write(fd_, p, size);
    if (k < 0) {
      if (errno == EINTR) continue;
      fail_write(who_, path_, "write failed", errno);
    }
    p += k;
    size -= static_cast<std::size_t>(k);
    written_ += static_cast<std::uint64_t>(k);
  }
}

void write_file_atomic(const std::string& path, const std::function<void(FileSink&)>& fill,
                       std::string_view who) {
  int mode = -1;
  const std::string target = write_target(path, who, &mode);
  TempFile tmp(target, who);
  FileSink sink(tmp.fd(), path, who);
  fill(sink);
  // The new file keeps the permissions of the one it replaces (a 0600 checkpoint stays
  // private, a read-only one read-only).
  if (mode >= 0 && ::fchmod(tmp.fd(), static_cast<mode_t>(mode)) != 0)
    fail_write(who, path, "cannot keep the file's permissions", errno);
  if (::fsync(tmp.fd()) != 0) fail_write(who, path, "fsync failed", errno);
  if (tmp.close() != 0) fail_write(who, path, "close failed", errno);
  if (const AtomicWriteHook hook = g_atomic_write_hook.load()) hook(tmp.path(), target);
  if (std::rename(tmp.path().c_str(), target.c_str()) != 0) {
    const int err = errno;
    fail(who, path, "cannot rename " + tmp.path() + " over it: " + std::strerror(err) +
                        " (the previous file, if any, is unchanged)");
  }
  tmp.renamed();
}

void write_file_atomic(const std::string& path, const void* data, std::size_t size,
                       std::string_view who) {
  write_file_atomic(path, [&](FileSink& out) { out.write(data, size); }, who);
}

AtomicWriteHook set_atomic_write_hook_for_testing(AtomicWriteHook hook) {
  return g_atomic_write_hook.exchange(hook);
}

}  // namespace minicnn
