// The IDX file format of MNIST and Fashion-MNIST, raw or gzip-compressed.
//
// An IDX file is a 4-byte magic (two zero bytes, the element type, the rank), then the
// rank dimensions as big-endian uint32, then the elements in row-major order:
//
//   00 00 08 03 | 00 00 27 10 | 00 00 00 1c | 00 00 00 1c | 10000·28·28 bytes
//   magic         dims[0] = 10000  dims[1] = 28     dims[2] = 28   data
//
// Only element type 0x08 (unsigned byte) is read; it is the type of every MNIST-like
// file. A gzip file is recognised by its first two bytes (1f 8b), not by its name.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "../core/tensor.hpp"

namespace minicnn {

struct IdxArray {
  Shape dims;                      // as the header gives them, outermost first
  std::vector<std::uint8_t> data;  // numel(dims) bytes, row-major
};

// Reads an IDX file of unsigned bytes. When rank is given, the file must have that rank.
// Throws Error("read_idx: <path>: <fault>") for a missing, empty or unreadable file, a
// wrong magic, an element type other than 0x08, a wrong rank, a truncated header or
// data (the header claiming more than the file holds), trailing bytes after the data,
// and a corrupt gzip stream. Memory: one allocation of the data's size.
IdxArray read_idx(const std::string& path, std::optional<std::size_t> rank = std::nullopt);

}  // namespace minicnn
