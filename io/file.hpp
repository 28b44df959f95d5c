// Whole-file reading and writing that is never seen half-done.
//
// write_file_atomic puts the bytes under a temporary name in the target's folder and
// renames it over the target once everything is written and flushed to disk, so a reader
// (or a crash) sees either the old file or the new one, never a part. Every failure
// throws Error naming the file and what went wrong, removes the temporary and leaves an
// existing file at the target as it was. A crash (a killed process) cannot remove its
// temporary: one left behind is harmless, since no reader looks at it and a later write
// picks a name that does not exist yet.
//
// A symbolic link is followed: its target is replaced (atomically, beside the target),
// the link stays. The new file keeps the permission bits of the file it replaces. A path
// that names something other than a regular file (a folder, a device, a pipe) is refused
// with an Error, and left as it is.
//
// Every writer of minicnn (checkpoints, images, metrics files) goes through here, so the
// one test hook below covers them all.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace minicnn {

// The whole content of path. Throws Error("<who>: <path>: <fault>") when the file is
// missing, a folder, or unreadable.
std::vector<std::uint8_t> read_file(const std::string& path, std::string_view who = "read_file");

// Where a streaming write_file_atomic puts its bytes: the temporary file, unbuffered.
class FileSink {
 public:
  FileSink(const FileSink&) = delete;
  FileSink& operator=(const FileSink&) = delete;

  // Appends size bytes; throws Error("<who>: <path>: write failed: ...") on an error.
  void write(const void* data, std::size_t size);
  void write(std::string_view bytes) { write(bytes.data(), bytes.size()); }
  // Bytes appended so far.
  std::uint64_t written() const { return written_; }

 private:
  friend void write_file_atomic(const std::string&, const std::function<void(FileSink&)>&,
                                std::string_view);
  FileSink(int fd, const std::string& path, std::string_view who)
      : fd_(fd), path_(path), who_(who) {}

  int fd_;
  const std::string& path_;
  std::string_view who_;
  std::uint64_t written_ = 0;
};

// Streams a file to path: fill(sink) is called once and appends the content in as many
// pieces as it likes (a checkpoint writes its tensors straight from their storage, with
// no second copy in memory). Then the temporary "<path>.tmp-<pid>-<n>" is flushed to
// disk, closed and renamed over path. Whatever fill throws ends the write as a write
// error does: the temporary is removed, the exception passes on, path is untouched.
void write_file_atomic(const std::string& path, const std::function<void(FileSink&)>& fill,
                       std::string_view who = "write_file_atomic");

// Writes size bytes to path the same way.
void write_file_atomic(const std::string& path, const void* data, std::size_t size,
                       std::string_view who = "write_file_atomic");
inline void write_file_atomic(const std::string& path, std::string_view bytes,
                              std::string_view who = "write_file_atomic") {
  write_file_atomic(path, bytes.data(), bytes.size(), who);
}

// For tests only, never set by minicnn itself: a function that write_file_atomic calls
// with the temporary's path and the target after the temporary is complete (written,
// flushed and closed) and just before the rename. Throwing from it fails the write there,
// as a crash between the two steps would, and runs the failure path; a test may also
// kill its process from it to leave a real crash's state behind. nullptr (the default)
// calls nothing. Returns the hook it replaces.
using AtomicWriteHook = void (*)(const std::string& temp_path, const std::string& target);
AtomicWriteHook set_atomic_write_hook_for_testing(AtomicWriteHook hook);

}  // namespace minicnn
