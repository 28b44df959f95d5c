#include "idx.hpp"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <sstream>

namespace minicnn {

namespace {

constexpr std::uint8_t kUnsignedByte = 0x08;
constexpr std::size_t kChunk = std::size_t(1) << 20;
// Deflate cannot expand by more than 1032:1, so a gzip file of C bytes holds at most
// about 1032·C bytes: a bound that catches a lying header before anything is allocated.
constexpr std::uint64_t kMaxDeflateRatio = 1032;

const char* type_name(std::uint8_t t) {
  switch (t) {
    case 0x08:
      return "unsigned byte";
    case 0x09:
      return "signed byte";
    case 0x0B:
      return "int16";
    case 0x0C:
      return "int32";
    case 0x0D:
      return "float32";
    case 0x0E:
      return "float64";
    default:
      return nullptr;
  }
}

std::string hex_byte(std::uint8_t b) {
  char s[8];
  std::snprintf(s, sizeof s, "0x%02X", unsigned(b));
  return s;
}

// The bytes of a raw file or of the stream inside a gzip file, read the same way.
class ByteSource {
 public:
  explicit ByteSource(const std::string& path) : path_(path) {}
  ByteSource(const ByteSource&) = delete;
  ByteSource& operator=(const ByteSource&) = delete;
  ~ByteSource() {
    if (file_) std::fclose(file_);
    if (gz_) gzclose(gz_);
  }

  [[noreturn]] void fail(const std::string& fault) const {
    throw Error("read_idx: " + path_ + ": " + fault);
  }

  // Opens the file and looks at its first two bytes to choose raw or gzip.
  void open() {
    std::error_code ec;
    if (!std::filesystem::exists(path_, ec)) fail("cannot open: no such file");
    if (std::filesystem::is_directory(path_, ec)) fail("is a directory, not an IDX file");
    file_ = std::fopen(path_.c_str(), "rb");
    if (!file_) fail(std::string("cannot open: ") + std::strerror(errno));
    file_size_ = std::filesystem::file_size(path_, ec);
    if (ec) fail("cannot get its size: " + ec.message());
    if (file_size_ == 0) fail("empty file");
    std::uint8_t magic[2] = {0, 0};
    const std::size_t n = std::fread(magic, 1, 2, file_);
    if (n == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
      std::fclose(file_);
      file_ = nullptr;
      gz_ = gzopen(path_.c_str(), "rb");
      if (!gz_) fail(std::string("cannot open as gzip: ") + std::strerror(errno));
      gzbuffer(gz_, 1 << 17);
    } else {
      std::rewind(file_);
    }
  }

  bool gzip() const { return gz_ != nullptr; }
  std::uint64_t file_size() const { return file_size_; }

  // Reads up to n bytes; fewer only at the end of the input. A gzip stream that is
  // damaged or cut short is an error, never a short read.
  std::size_t read(void* dst, std::size_t n) {
    if (!gz_) {
      const std::size_t got = std::fread(dst, 1, n, file_);
      if (got < n && std::ferror(file_)) fail(std::string("read error: ") + std::strerror(errno));
      return got;
    }
    std::size_t got = 0;
    auto* out = static_cast<unsigned char*>(dst);
    while (got < n) {
      const unsigned want = unsigned(std::min<std::size_t>(n - got, kChunk));
      const int r = gzread(gz_, out + got, want);
      if (r > 0) got += std::size_t(r);
      if (r < int(want)) {
        int err = Z_OK;
        const char* msg = gzerror(gz_, &err);
        if (err != Z_OK) fail(std::string("corrupt gzip: ") + msg);
        break;  // the clean end of the stream
      }
    }
    return got;
  }

  // The gzip trailer's ISIZE: the uncompressed size mod 2^32 of the (last) member.
  std::optional<std::uint32_t> gzip_isize() const {
    if (file_size_ < 18) return std::nullopt;
    std::FILE* f = std::fopen(path_.c_str(), "rb");
    if (!f) return std::nullopt;
    std::uint8_t b[4];
    std::optional<std::uint32_t> size;
    if (std::fseek(f, -4, SEEK_END) == 0 && std::fread(b, 1, 4, f) == 4)
      size = std::uint32_t(b[0]) | std::uint32_t(b[1]) << 8 | std::uint32_t(b[2]) << 16 |
             std::uint32_t(b[3]) << 24;
    std::fclose(f);
    return size;
  }

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
  gzFile gz_ = nullptr;
  std::uint64_t file_size_ = 0;
};

}  // namespace

IdxArray read_idx(const std::string& path, std::optional<std::size_t> rank) {
  ByteSource in(path);
  in.open();
  const char* holder = in.gzip() ? "the decompressed file holds" : "the file holds";

  std::uint8_t magic[4];
  const std::size_t got_magic = in.read(magic, 4);
  if (got_magic == 0) in.fail("empty file: the gzip stream holds no bytes");
  if (got_magic < 4)
    in.fail("truncated header: " + std::to_string(got_magic) +
            " bytes, an IDX header needs at least 4");
  if (magic[0] != 0 || magic[1] != 0) {
    std::ostringstream m;
    m << "wrong magic " << hex_byte(magic[0]) << ' ' << hex_byte(magic[1]) << ' '
      << hex_byte(magic[2]) << ' ' << hex_byte(magic[3])
      << ": an IDX file starts with two zero bytes, then the element type and the rank";
    in.fail(m.str());
  }
  const std::uint8_t type = magic[2];
  if (type != kUnsignedByte) {
    const char* name = type_name(type);
    in.fail(std::string(name ? "unsupported" : "unknown") + " element type " + hex_byte(type) +
            (name ? std::string(" (") + name + ")" : std::string()) +
            ": only 0x08 (unsigned byte) is supported");
  }
  const std::size_t file_rank = magic[3];
  if (file_rank == 0) in.fail("bad rank 0 in the header: an IDX array has at least one dimension");
  if (rank && *rank != file_rank)
    in.fail("wrong rank: expected rank " + std::to_string(*rank) + ", the header says rank " +
            std::to_string(file_rank));

  std::uint8_t dim_bytes[4 * 255];
  const std::size_t header = 4 + 4 * file_rank;
  const std::size_t got_dims = in.read(dim_bytes, 4 * file_rank);
  if (got_dims < 4 * file_rank)
    in.fail("truncated header: rank " + std::to_string(file_rank) + " needs " +
            std::to_string(header) + " header bytes, " + holder + " " +
            std::to_string(4 + got_dims));

  IdxArray out;
  out.dims.resize(file_rank);
  std::uint64_t total = 1;
  bool overflow = false;
  for (std::size_t i = 0; i < file_rank; ++i) {
    const std::uint8_t* b = dim_bytes + 4 * i;
    out.dims[i] = std::uint32_t(b[0]) << 24 | std::uint32_t(b[1]) << 16 | std::uint32_t(b[2]) << 8 |
                  std::uint32_t(b[3]);
    if (out.dims[i] != 0 && total > std::numeric_limits<std::uint64_t>::max() / out.dims[i])
      overflow = true;
    else
      total *= out.dims[i];
  }
  const std::string dims = "dims " + to_string(out.dims);
  if (overflow) in.fail("the header claims more than the file holds: " + dims + " overflow");

  // What the file can hold at most: exactly known for a raw file, bounded for gzip.
  const std::uint64_t payload = in.gzip() ? 0 : in.file_size() - header;
  if (!in.gzip() && total > payload)
    in.fail("truncated data: the header claims " + dims + " = " + std::to_string(total) +
            " bytes of data, but the file holds only " + std::to_string(payload));
  if (in.gzip() && total > kMaxDeflateRatio * in.file_size())
    in.fail("the header claims more than the file can hold: " + dims + " = " +
            std::to_string(total) + " bytes of data, more than a gzip file of " +
            std::to_string(in.file_size()) + " bytes can hold");

  // One allocation of the right size when the size is trusted: always for a raw file,
  // and for gzip when the trailer's ISIZE agrees with the header. Otherwise the buffer
  // grows as data actually arrives, so a lying header cannot make us allocate.
  std::size_t reserve = std::min<std::uint64_t>(total, kChunk);
  if (!in.gzip()) reserve = total;
  if (const auto isize = in.gzip() ? in.gzip_isize() : std::nullopt;
      isize && *isize == std::uint32_t(total + header))
    reserve = total;
  out.data.reserve(reserve);
  while (out.data.size() < total) {
    const std::size_t have = out.data.size();
    const std::size_t want = std::min<std::uint64_t>(total - have, kChunk);
    if (out.data.capacity() < have + want)
      out.data.reserve(
          std::min<std::uint64_t>(total, std::max(2 * out.data.capacity(), have + want)));
    out.data.resize(have + want);
    const std::size_t got = in.read(out.data.data() + have, want);
    if (got < want) {
      out.data.resize(have + got);
      break;
    }
  }
  if (out.data.size() < total)
    in.fail("truncated data: the header claims " + dims + " = " + std::to_string(total) +
            " bytes of data, but " + holder + " only " + std::to_string(out.data.size()));

  // Anything after the data means the header and the file disagree.
  // Reading a gzip stream to its end also checks its CRC.
  std::uint64_t trailing = 0;
  if (!in.gzip()) {
    trailing = payload - total;
  } else {
    std::uint8_t scratch[4096];
    for (std::size_t n; (n = in.read(scratch, sizeof scratch)) > 0;) trailing += n;
  }
  if (trailing > 0)
    in.fail(std::to_string(trailing) + " trailing bytes after the data: the header's " + dims +
            " account for " + std::to_string(total) + " bytes, " + holder + " " +
            std::to_string(total + trailing));
  return out;
}

}  // namespace minicnn
