// Whole-file reading and writing that is never seen half-done.
//
// write_file_atomic puts the bytes under a temporary name in the target's folder and
// renames it over the target once everything is written and flushed, so a reader (or a
// crash) sees either the old file or the new one, never a part. Every failure throws
// Error naming the file and what went wrong.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace minicnn {

// The whole content of path. Throws Error("<who>: <path>: <fault>") when the file is
// missing, a folder, or unreadable.
std::vector<std::uint8_t> read_file(const std::string& path, std::string_view who = "read_file");

// Writes size bytes to path through "<path>.tmp-<pid>-<n>" and a rename. On failure the
// temporary is removed and an existing file at path is left as it was.
void write_file_atomic(const std::string& path, const void* data, std::size_t size,
                       std::string_view who = "write_file_atomic");
inline void write_file_atomic(const std::string& path, std::string_view bytes,
                              std::string_view who = "write_file_atomic") {
  write_file_atomic(path, bytes.data(), bytes.size(), who);
}

}  // namespace minicnn
