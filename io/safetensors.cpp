#include "safetensors.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>

#include "file.hpp"

namespace minicnn {
namespace {

using Json = nlohmann::ordered_json;  // keeps the file's order, so "first fault" is well defined

constexpr char kMetadataKey[] = "__metadata__";
constexpr std::uint64_t kLengthBytes = 8;

std::string errno_text(int err) { return std::strerror(err); }

// ---- bytes on disk ------------------------------------------------------------------

std::uint64_t load_u64_le(const unsigned char* b) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | b[i];
  return v;
}

void store_u64_le(std::uint64_t v, unsigned char* b) {
  for (int i = 0; i < 8; ++i) b[i] = static_cast<unsigned char>(v >> (8 * i));
}

std::uint16_t load_u16_le(const unsigned char* b) {
  return static_cast<std::uint16_t>(b[0] | (b[1] << 8));
}

// The dtype a header names, or nothing for one minicnn does not read.
std::optional<DType> parse_dtype(const std::string& s) {
  for (DType d : {DType::F32, DType::F16, DType::BF16, DType::I64})
    if (s == dtype_name(d)) return d;
  return std::nullopt;
}

[[maybe_unused]] void byteswap_floats(float* p, std::size_t n) {  // big-endian hosts only
  for (std::size_t i = 0; i < n; ++i) {
    std::uint32_t u;
    std::memcpy(&u, p + i, 4);
    u = (u >> 24) | ((u >> 8) & 0xff00u) | ((u << 8) & 0xff0000u) | (u << 24);
    std::memcpy(p + i, &u, 4);
  }
}

// A file descriptor closed on scope exit.
struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// ---- saving ---------------------------------------------------------------------------

void write_int64s(FileSink& out, const std::int64_t* v, std::size_t n) {
  constexpr std::size_t kChunk = 1 << 11;
  unsigned char buf[kChunk * 8];
  for (std::size_t i = 0; i < n; i += kChunk) {
    const std::size_t k = std::min(kChunk, n - i);
    for (std::size_t j = 0; j < k; ++j)
      store_u64_le(static_cast<std::uint64_t>(v[i + j]), buf + 8 * j);
    out.write(buf, k * 8);
  }
}

void write_floats(FileSink& out, const Tensor& t) {
  if constexpr (std::endian::native == std::endian::little) {
    out.write(t.data(), t.size() * sizeof(float));
  } else {
    constexpr std::size_t kChunk = 1 << 14;
    std::vector<float> buf;
    for (std::size_t i = 0; i < t.size(); i += kChunk) {
      const std::size_t n = std::min(kChunk, t.size() - i);
      buf.assign(t.data() + i, t.data() + i + n);
      byteswap_floats(buf.data(), n);
      out.write(buf.data(), n * sizeof(float));
    }
  }
}

// ---- reading --------------------------------------------------------------------------

struct Entry {
  std::string name;
  DType dtype = DType::F32;
  Shape shape;
  std::uint64_t begin = 0, end = 0;
};

class Reader {
 public:
  explicit Reader(const std::string& path) : path_(path) {}

  [[noreturn]] void fail(const std::string& what) const {
    throw Error("read_safetensors: '" + path_ + "': " + what);
  }

  // Reads n bytes at offset into dst, all or throw.
  void pread_all(int fd, void* dst, std::size_t n, std::uint64_t offset) const {
    char* p = static_cast<char*>(dst);
    while (n > 0) {
      const ssize_t k = ::pread(fd, p, n, static_cast<off_t>(offset));
      if (k < 0 && errno == EINTR) continue;
      if (k < 0) fail("read failed: " + errno_text(errno));
      if (k == 0) fail("file ended early while reading (was it changed while being read?)");
      p += k;
      n -= static_cast<std::size_t>(k);
      offset += static_cast<std::uint64_t>(k);
    }
  }

  // One tensor's header entry, checked on its own (not yet against the others).
  Entry parse_entry(const std::string& name, const Json& j, std::uint64_t data_size) const {
    const std::string who = "tensor '" + name + "'";
    if (!j.is_object()) fail(who + ": entry is not a JSON object");
    const auto dtype = j.find("dtype");
    if (dtype == j.end() || !dtype->is_string()) fail(who + ": no \"dtype\" string");
    const std::optional<DType> dt = parse_dtype(dtype->get<std::string>());
    if (!dt) {
      fail(who + " has dtype " + dtype->get<std::string>() +
           "; minicnn reads F32, F16, BF16 and I64");
    }

    Entry e;
    e.name = name;
    e.dtype = *dt;
    const std::uint64_t width = dtype_size(e.dtype);
    const auto shape = j.find("shape");
    if (shape == j.end() || !shape->is_array()) fail(who + ": no \"shape\" array");
    std::uint64_t count = 1;
    bool overflow = false;
    for (const Json& d : *shape) {
      if (!d.is_number_unsigned())
        fail(who + ": shape " + shape->dump() + " is not a list of sizes");
      const std::uint64_t v = d.get<std::uint64_t>();
      e.shape.push_back(static_cast<std::size_t>(v));
      if (v != 0 && count > std::numeric_limits<std::uint64_t>::max() / v) overflow = true;
      count *= v;
    }

    const auto offsets = j.find("data_offsets");
    if (offsets == j.end() || !offsets->is_array() || offsets->size() != 2 ||
        !(*offsets)[0].is_number_unsigned() || !(*offsets)[1].is_number_unsigned()) {
      fail(who + ": \"data_offsets\" is not a pair of byte offsets");
    }
    e.begin = (*offsets)[0].get<std::uint64_t>();
    e.end = (*offsets)[1].get<std::uint64_t>();
    const std::string range =
        "data_offsets [" + std::to_string(e.begin) + ", " + std::to_string(e.end) + "]";
    if (e.end < e.begin) fail(who + " has " + range + " that end before they begin");
    if (overflow || count > (std::numeric_limits<std::uint64_t>::max() / width) ||
        count * width != e.end - e.begin) {
      fail(who + " has shape " + to_string(e.shape) + ", " +
           (overflow ? std::string("more than 2^64") : std::to_string(count * width)) +
           " bytes as " + std::string(dtype_name(e.dtype)) + ", but " + range + " span " +
           std::to_string(e.end - e.begin) + " bytes");
    }
    if (e.end > data_size) {
      fail(who + " has " + range + " past the end of the " + std::to_string(data_size) +
           "-byte data section (file truncated?)");
    }
    return e;
  }

  // The tensors must tile [0, data_size) exactly.
  void check_tiling(std::vector<Entry>& entries, std::uint64_t data_size) const {
    std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
      return a.begin != b.begin ? a.begin < b.begin : a.end < b.end;
    });
    std::uint64_t at = 0;
    const Entry* prev = nullptr;
    for (const Entry& e : entries) {
      if (e.begin < at) {
        fail("tensors '" + prev->name + "' and '" + e.name + "' overlap (bytes [" +
             std::to_string(e.begin) + ", " + std::to_string(std::min(at, e.end)) +
             ") of the data section)");
      }
      if (e.begin > at) {
        fail("gap of " + std::to_string(e.begin - at) + " bytes before tensor '" + e.name +
             "' (bytes [" + std::to_string(at) + ", " + std::to_string(e.begin) +
             ") of the data section belong to no tensor)");
      }
      at = e.end;
      prev = &e;
    }
    if (at != data_size) {
      fail("the last " + std::to_string(data_size - at) + " bytes of the " +
           std::to_string(data_size) + "-byte data section belong to no tensor");
    }
  }

 private:
  std::string path_;
};

// The values of e, at data_start + e.begin in the file, as a StoredTensor.
StoredTensor read_values(const Reader& r, int fd, const Entry& e, std::uint64_t data_start) {
  StoredTensor t;
  t.dtype = e.dtype;
  t.shape = e.shape;
  const std::uint64_t at = data_start + e.begin;
  const auto bytes = static_cast<std::size_t>(e.end - e.begin);
  if (e.dtype == DType::F32) {
    t.values = Tensor::from_shape(e.shape);
    r.pread_all(fd, t.values.data(), bytes, at);
    if constexpr (std::endian::native != std::endian::little) {
      byteswap_floats(t.values.data(), t.values.size());
    }
    return t;
  }
  std::vector<unsigned char> raw(bytes);
  r.pread_all(fd, raw.data(), bytes, at);
  if (e.dtype == DType::I64) {
    t.values = Tensor::from_shape(Shape{0});
    t.ints.resize(bytes / 8);
    for (std::size_t i = 0; i < t.ints.size(); ++i)
      t.ints[i] = static_cast<std::int64_t>(load_u64_le(raw.data() + 8 * i));
    return t;
  }
  t.values = Tensor::from_shape(e.shape);
  float* v = t.values.data();
  const auto convert = e.dtype == DType::F16 ? f16_to_float : bf16_to_float;
  for (std::size_t i = 0; i < t.values.size(); ++i) v[i] = convert(load_u16_le(raw.data() + 2 * i));
  return t;
}

}  // namespace

std::string_view dtype_name(DType d) {
  switch (d) {
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    case DType::I64: return "I64";
  }
  return "?";
}

std::size_t dtype_size(DType d) {
  switch (d) {
    case DType::F32: return 4;
    case DType::F16: return 2;
    case DType::BF16: return 2;
    case DType::I64: return 8;
  }
  return 0;
}

// A half is (−1)^s · 2^(e−15) · 1.m for 0 < e < 31, (−1)^s · 2^−14 · 0.m for e = 0 (zero
// and the subnormals), ±inf or NaN for e = 31. As a float: the exponent rebiased by
// 127 − 15 = 112, the mantissa moved up 13 bits; a subnormal half m·2^−24 is normal as a
// float, and exactly a float's conversion of the integer m, scaled.
float f16_to_float(std::uint16_t bits) {
  const std::uint32_t sign = static_cast<std::uint32_t>(bits & 0x8000u) << 16;
  const std::uint32_t exponent = (bits >> 10) & 0x1fu;
  const std::uint32_t mantissa = bits & 0x3ffu;
  if (exponent == 0) {
    const float magnitude = static_cast<float>(mantissa) * 0x1p-24f;  // exact: m < 2^10
    return std::bit_cast<float>(sign | std::bit_cast<std::uint32_t>(magnitude));
  }
  if (exponent == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (mantissa << 13));
  return std::bit_cast<float>(sign | ((exponent + 112) << 23) | (mantissa << 13));
}

float bf16_to_float(std::uint16_t bits) {
  return std::bit_cast<float>(static_cast<std::uint32_t>(bits) << 16);
}

TensorRef::TensorRef(std::string n, const Tensor* values) : name(std::move(n)), f32(values) {}

TensorRef::TensorRef(std::string n, const std::int64_t* values, Shape s)
    : name(std::move(n)), i64(values), shape(std::move(s)) {}

void save_safetensors(const TensorRefs& tensors, const std::string& path,
                      const SafetensorsMetadata& metadata) {
  const auto fail = [&](const std::string& what) {
    throw Error("save_safetensors: '" + path + "': " + what);
  };
  Json header = Json::object();
  try {
    if (!metadata.empty()) {
      Json meta = Json::object();
      for (const auto& [k, v] : metadata) meta[k] = v;
      header[kMetadataKey] = std::move(meta);
    }
    std::set<std::string> names;
    std::uint64_t offset = 0;
    for (std::size_t i = 0; i < tensors.size(); ++i) {
      const TensorRef& t = tensors[i];
      const std::string& name = t.name;
      if (name.empty()) fail("tensor #" + std::to_string(i) + " has an empty name");
      if (name == kMetadataKey) fail("a tensor may not be named " + name);
      if (t.f32 == nullptr && t.i64 == nullptr) fail("tensor '" + name + "' is a null pointer");
      if (!names.insert(name).second) fail("two tensors are named '" + name + "'");
      const bool ints = t.f32 == nullptr;
      const Shape shape = ints ? t.shape : shape_of(*t.f32);
      std::uint64_t count = 1;
      for (const std::size_t d : shape) {
        if (d != 0 && count > std::numeric_limits<std::uint64_t>::max() / 8 / d)
          fail("tensor '" + name + "' has shape " + to_string(shape) + ", more than 2^61 values");
        count *= d;
      }
      const std::uint64_t bytes = count * (ints ? 8 : sizeof(float));
      header[name] = {{"dtype", ints ? "I64" : "F32"},
                      {"shape", shape},
                      {"data_offsets", {offset, offset + bytes}}};
      offset += bytes;
    }
  } catch (const Json::exception& e) {
    fail(std::string("cannot build the header: ") + e.what());
  }

  std::string text;
  try {
    text = header.dump();
  } catch (const Json::exception& e) {  // a name or value that is not valid UTF-8
    fail(std::string("cannot write the header: ") + e.what());
  }
  text.append((8 - text.size() % 8) % 8, ' ');

  // Streamed from the tensors' own storage through a temporary and a rename.
  write_file_atomic(
      path,
      [&](FileSink& out) {
        unsigned char len[kLengthBytes];
        store_u64_le(text.size(), len);
        out.write(len, sizeof len);
        out.write(text);
        for (const TensorRef& t : tensors) {
          if (t.f32 != nullptr) {
            write_floats(out, *t.f32);
          } else {
            write_int64s(out, t.i64, numel(t.shape));
          }
        }
      },
      "save_safetensors");
}

std::map<std::string, StoredTensor> read_safetensors(const std::string& path,
                                                     SafetensorsMetadata* metadata) {
  const Reader r(path);
  Fd file(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (file.fd < 0) r.fail("cannot open: " + errno_text(errno));
  struct stat st {};
  if (::fstat(file.fd, &st) != 0) r.fail("cannot stat: " + errno_text(errno));
  if (!S_ISREG(st.st_mode)) r.fail("not a regular file");
  const auto size = static_cast<std::uint64_t>(st.st_size);
  if (size == 0) r.fail("file is empty");
  if (size < kLengthBytes) {
    r.fail("file is " + std::to_string(size) + " bytes, shorter than the 8-byte header length");
  }

  unsigned char len[kLengthBytes];
  r.pread_all(file.fd, len, sizeof len, 0);
  const std::uint64_t header_len = load_u64_le(len);
  if (header_len > size - kLengthBytes) {
    r.fail("header length " + std::to_string(header_len) + " runs past the end of the " +
           std::to_string(size) + "-byte file");
  }
  std::string text(static_cast<std::size_t>(header_len), '\0');
  r.pread_all(file.fd, text.data(), text.size(), kLengthBytes);
  const std::uint64_t data_start = kLengthBytes + header_len;
  const std::uint64_t data_size = size - data_start;

  // A JSON parser keeps one of two equal keys; note the first repeat to report it.
  std::set<std::string> keys;
  std::string repeated;
  const Json::parser_callback_t note_keys = [&](int depth, Json::parse_event_t event,
                                                Json& parsed) {
    if (depth == 1 && event == Json::parse_event_t::key && repeated.empty() &&
        !keys.insert(parsed.get<std::string>()).second) {
      repeated = parsed.get<std::string>();
    }
    return true;
  };
  Json header;
  try {
    header = Json::parse(text, note_keys);
  } catch (const Json::exception& e) {  // parse_error, or out_of_range for a number like 1e999
    r.fail(std::string("header is not valid JSON: ") + e.what());
  }
  if (!header.is_object()) {
    r.fail(std::string("header is not a JSON object but a JSON ") + header.type_name());
  }
  if (!repeated.empty()) r.fail("'" + repeated + "' appears twice in the header");

  std::vector<Entry> entries;
  for (const auto& [name, value] : header.items()) {
    if (name == kMetadataKey) {
      if (!value.is_object()) r.fail("\"__metadata__\" is not a JSON object");
      for (const auto& [k, v] : value.items()) {
        if (!v.is_string()) r.fail("\"__metadata__\" entry '" + k + "' is not a string");
      }
      continue;
    }
    entries.push_back(r.parse_entry(name, value, data_size));
  }
  r.check_tiling(entries, data_size);

  std::map<std::string, StoredTensor> out;
  for (const Entry& e : entries) out.emplace(e.name, read_values(r, file.fd, e, data_start));
  if (metadata != nullptr) {
    metadata->clear();
    if (const auto m = header.find(kMetadataKey); m != header.end()) {
      for (const auto& [k, v] : m->items()) (*metadata)[k] = v.get<std::string>();
    }
  }
  return out;
}

}  // namespace minicnn
