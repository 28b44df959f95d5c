#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <limits>
#include <minicnn/io/safetensors.hpp>
#include <minicnn/core/tensor.hpp>
#include <nlohmann/json.hpp>
#include <string>

#include "test_util.hpp"

using namespace minicnn;
using namespace minicnn::testing;
namespace fs = std::filesystem;

namespace {

class SafetensorsTest : public TempDirTest {
 protected:
  // A file from a header text (its length written as given, or the true one) and data.
  std::string write_file(
      const std::string& name, const std::string& header, const std::string& data,
      std::uint64_t header_len = std::numeric_limits<std::uint64_t>::max()) const {
    if (header_len == std::numeric_limits<std::uint64_t>::max()) header_len = header.size();
    std::string bytes(8, '\0');
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>(header_len >> (8 * i));
    const std::string path = file(name);
    write_bytes(path, bytes + header + data);
    return path;
  }

  // read_safetensors(path) must throw an Error naming the file and every part.
  void expect_read_error(const std::string& path, std::vector<std::string> parts) const {
    parts.push_back(path);
    expect_error_naming([&] { read_safetensors(path); }, parts);
  }
};

Tensor ramp(const Shape& s, float start = 0.5f) {
  Tensor t = zeros(s);
  for (std::size_t i = 0; i < t.size(); ++i) t.data()[i] = start + 0.25f * float(i);
  return t;
}

// Eight bytes of data: two floats.
const std::string kEightBytes(8, '\x01');

}  // namespace

TEST_F(SafetensorsTest, RoundTripIsBitExact) {
  Tensor w = ramp({2, 3});
  w(0, 0) = std::numeric_limits<float>::quiet_NaN();
  w(0, 1) = -0.0f;
  w(0, 2) = std::numeric_limits<float>::denorm_min();
  w(1, 0) = -std::numeric_limits<float>::infinity();
  const Tensor b = ramp({4}, -1.0f);
  Tensor scalar = Tensor::from_shape(Shape{});
  scalar() = 3.5f;
  const Tensor empty = zeros({0, 3});
  const std::string path = file("model.safetensors");
  save_safetensors({{"w", &w}, {"b", &b}, {"s", &scalar}, {"e", &empty}}, path,
                   {{"format", "pt"}, {"note", "ünïcode"}});

  SafetensorsMetadata meta;
  const auto back = read_safetensors(path, &meta);
  ASSERT_EQ(back.size(), 4u);
  EXPECT_TRUE(same_bits(back.at("w").values, w));
  EXPECT_TRUE(same_bits(back.at("b").values, b));
  EXPECT_TRUE(same_bits(back.at("s").values, scalar));
  EXPECT_EQ(back.at("s").shape, Shape{});
  EXPECT_EQ(back.at("e").shape, (Shape{0, 3}));
  EXPECT_EQ(meta, (SafetensorsMetadata{{"format", "pt"}, {"note", "ünïcode"}}));
  EXPECT_TRUE(dir_.temp_files().empty());

  // Saving again replaces the file.
  save_safetensors({{"only", &b}}, path);
  const auto again = read_safetensors(path, &meta);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_TRUE(same_bits(again.at("only").values, b));
  EXPECT_TRUE(meta.empty());
}

TEST_F(SafetensorsTest, FileLayoutParsedIndependently) {
  const Tensor a = ramp({3, 2}), b = ramp({5}, 10.0f);
  const std::string path = file("layout.safetensors");
  save_safetensors({{"layer.a", &a}, {"layer.b", &b}}, path, {{"format", "pt"}});

  const std::string bytes = read_bytes(path);
  ASSERT_GE(bytes.size(), 8u);
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  EXPECT_EQ(n % 8, 0u) << "header padded to a multiple of 8";
  ASSERT_EQ(bytes.size(), 8 + n + (6 + 5) * 4);
  const std::string header = bytes.substr(8, n);
  EXPECT_EQ(header.front(), '{');
  EXPECT_EQ(header.find_last_not_of(' '), header.rfind('}')) << "padding is spaces only";

  const auto j = nlohmann::json::parse(header);
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j.size(), 3u);
  EXPECT_EQ(j["__metadata__"], (nlohmann::json{{"format", "pt"}}));
  EXPECT_EQ(j["layer.a"]["dtype"], "F32");
  EXPECT_EQ(j["layer.a"]["shape"], (nlohmann::json{3, 2}));
  EXPECT_EQ(j["layer.a"]["data_offsets"], (nlohmann::json{0, 24}));
  EXPECT_EQ(j["layer.b"]["dtype"], "F32");
  EXPECT_EQ(j["layer.b"]["shape"], (nlohmann::json{5}));
  EXPECT_EQ(j["layer.b"]["data_offsets"], (nlohmann::json{24, 44}));

  // The data: little-endian float32, row-major, in the offsets given.
  const char* data = bytes.data() + 8 + n;
  for (std::size_t i = 0; i < 6; ++i) {
    std::uint32_t u = 0;
    for (int k = 3; k >= 0; --k) u = (u << 8) | static_cast<unsigned char>(data[4 * i + k]);
    float f;
    std::memcpy(&f, &u, 4);
    EXPECT_EQ(f, a.data()[i]);
  }
  float last;
  std::memcpy(&last, data + 40, 4);
  EXPECT_EQ(last, b(4));
}

TEST_F(SafetensorsTest, ReadsAFileWrittenByHand) {
  // As another writer might lay it out: data in the other order, no padding.
  std::string data(12, '\0');
  const float v[3] = {1.5f, -2.0f, 4.0f};
  std::memcpy(data.data(), v, 12);
  const std::string path = write_file("hand.safetensors",
                                      R"({"y":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},)"
                                      R"("x":{"dtype":"F32","shape":[2,1],"data_offsets":[0,8]}})",
                                      data);
  const auto t = read_safetensors(path);
  EXPECT_EQ(t.at("x").shape, (Shape{2, 1}));
  EXPECT_EQ(t.at("x").values(1, 0), -2.0f);
  EXPECT_EQ(t.at("y").values(0), 4.0f);
}

TEST_F(SafetensorsTest, CorruptFilesThrowNamingFileAndFault) {
  expect_read_error(file("missing.safetensors"), {"cannot open", "No such file"});
  expect_read_error(dir_.string(), {"not a regular file"});

  const std::string empty = file("empty.safetensors");
  write_bytes(empty, "");
  expect_read_error(empty, {"empty"});

  const std::string short5 = file("short.safetensors");
  write_bytes(short5, "12345");
  expect_read_error(short5, {"5 bytes", "shorter than the 8-byte header length"});

  expect_read_error(write_file("past.safetensors", "{}", "", 1000),
                    {"header length 1000", "past the end", "10-byte file"});
  expect_read_error(write_file("notjson.safetensors", "{\"w\": [1, 2", ""), {"not valid JSON"});
  expect_read_error(write_file("array.safetensors", "[1, 2]", ""), {"not a JSON object", "array"});
  expect_read_error(
      write_file("dtype.safetensors", R"({"w":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}})",
                 kEightBytes),
      {"tensor 'w'", "dtype F64", "reads F32, F16, BF16 and I64"});
  expect_read_error(
      write_file("sizes.safetensors", R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,8]}})",
                 kEightBytes),
      {"tensor 'w'", "shape (2, 3)", "24 bytes as F32", "[0, 8] span 8 bytes"});
  expect_read_error(
      write_file("beyond.safetensors", R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})",
                 kEightBytes),
      {"tensor 'w'", "[0, 16]", "past the end", "8-byte data section"});
  expect_read_error(write_file("overlap.safetensors",
                               R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                               R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                               std::string(12, '\0')),
                    {"'a' and 'b' overlap"});
  expect_read_error(write_file("gap.safetensors",
                               R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                               R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})",
                               std::string(12, '\0')),
                    {"gap of 4 bytes", "tensor 'b'"});
  expect_read_error(
      write_file("trailing.safetensors",
                 R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", kEightBytes),
      {"last 4 bytes", "belong to no tensor"});
  expect_read_error(
      write_file("negative.safetensors",
                 R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})", kEightBytes),
      {"tensor 'a'", "data_offsets"});
  expect_read_error(
      write_file("badshape.safetensors",
                 R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", kEightBytes),
      {"tensor 'a'", "shape"});
  expect_read_error(write_file("twice.safetensors",
                               R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                               R"("a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})",
                               kEightBytes),
                    {"'a' appears twice"});
  expect_read_error(write_file("meta.safetensors", R"({"__metadata__":{"epoch":3}})", ""),
                    {"__metadata__", "'epoch'", "not a string"});

  // A good file cut short.
  const Tensor t = ramp({4, 4});
  const std::string cut = file("cut.safetensors");
  save_safetensors({{"t", &t}}, cut);
  fs::resize_file(cut, fs::file_size(cut) - 4);
  expect_read_error(cut, {"tensor 't'", "past the end", "truncated"});
}

TEST_F(SafetensorsTest, BadTensorListThrowsAndWritesNothing) {
  const Tensor t = ramp({2});
  const std::string path = file("bad.safetensors");
  const auto expect_save_error = [&](const TensorRefs& refs, const char* part) {
    expect_error_naming([&] { save_safetensors(refs, path); }, {path, part});
  };
  expect_save_error({{"a", &t}, {"a", &t}}, "two tensors are named 'a'");
  expect_save_error({{"a", nullptr}}, "'a' is a null pointer");
  expect_save_error({{"", &t}}, "empty name");
  expect_save_error({{"__metadata__", &t}}, "__metadata__");
  EXPECT_FALSE(fs::exists(path));
  EXPECT_TRUE(dir_.temp_files().empty());
}

TEST_F(SafetensorsTest, FailedSaveLeavesThePreviousFile) {
  const Tensor old = ramp({3});
  const std::string path = file("keep.safetensors");
  save_safetensors({{"w", &old}}, path);

  // Into a folder that does not exist: nothing is created.
  const std::string nowhere = file("no/such/folder/x.safetensors");
  expect_error_naming([&] { save_safetensors({{"w", &old}}, nowhere); }, {nowhere});
  EXPECT_FALSE(fs::exists(nowhere));

  // A write that fails half way (the file size limit stops it even for root): the
  // temporary is removed and the previous file still loads as it was.
  const Tensor big = ramp({10000});
  struct rlimit saved {};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = saved;
  small.rlim_cur = 4096;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  bool threw = false;
  try {
    save_safetensors({{"w", &big}}, path);
  } catch (const Error& e) {
    threw = true;
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("write failed"), std::string::npos) << e.what();
  }
  ::setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, old_handler);
  EXPECT_TRUE(threw);
  EXPECT_TRUE(dir_.temp_files().empty());
  auto back = read_safetensors(path);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_TRUE(same_bits(back.at("w").values, old));

  // The rename fails when the target is a folder that is not empty: the folder stays.
  const std::string folder = file("folder.safetensors");
  fs::create_directories(fs::path(folder) / "inside");
  EXPECT_THROW(save_safetensors({{"w", &old}}, folder), Error);
  EXPECT_TRUE(fs::is_directory(fs::path(folder) / "inside"));
  EXPECT_TRUE(dir_.temp_files().empty());
}

// ---- dtypes other than F32 ------------------------------------------------------------

namespace {

// The value of a binary floating-point format with the given exponent and mantissa
// widths, from its bits by the textbook formula: (−1)^s · 2^(e − bias) · (1 + m / 2^M)
// for normal numbers, (−1)^s · 2^(1 − bias) · (m / 2^M) for e = 0, ±inf or NaN for the
// largest e. Computed in double, independently of the bit moves under test.
double reference_value(std::uint32_t bits, int exponent_bits, int mantissa_bits) {
  const std::uint32_t m = bits & ((1u << mantissa_bits) - 1);
  const std::uint32_t e = (bits >> mantissa_bits) & ((1u << exponent_bits) - 1);
  const bool negative = (bits >> (mantissa_bits + exponent_bits)) & 1u;
  const int bias = (1 << (exponent_bits - 1)) - 1;
  const std::uint32_t e_max = (1u << exponent_bits) - 1;
  double v;
  if (e == e_max) {
    v = m == 0 ? std::numeric_limits<double>::infinity() : std::numeric_limits<double>::quiet_NaN();
  } else if (e == 0) {
    v = std::ldexp(double(m), 1 - bias - mantissa_bits);
  } else {
    v = std::ldexp(1.0 + std::ldexp(double(m), -mantissa_bits), int(e) - bias);
  }
  return negative ? -v : v;
}

// float == the reference exactly; for NaN, a NaN of the same sign.
void expect_exact(float actual, double expected, std::uint32_t bits, const char* format) {
  if (std::isnan(expected)) {
    EXPECT_TRUE(std::isnan(actual)) << format << " 0x" << std::hex << bits;
    EXPECT_EQ(std::signbit(actual), std::signbit(expected)) << format << " 0x" << std::hex << bits;
    return;
  }
  EXPECT_EQ(double(actual), expected) << format << " 0x" << std::hex << bits;
  EXPECT_EQ(std::signbit(actual), std::signbit(expected)) << format << " 0x" << std::hex << bits;
}

std::string le_bytes(std::uint64_t v, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += static_cast<char>(v >> (8 * i));
  return s;
}

}  // namespace

TEST(Safetensors, HalfAndBfloat16ConvertExactlyForEveryBitPattern) {
  for (std::uint32_t b = 0; b <= 0xffff; ++b) {
    expect_exact(f16_to_float(std::uint16_t(b)), reference_value(b, 5, 10), b, "F16");
    expect_exact(bf16_to_float(std::uint16_t(b)), reference_value(b, 8, 7), b, "BF16");
  }
  // A few by hand: the boundaries of each range.
  EXPECT_EQ(f16_to_float(0x3c00), 1.0f);
  EXPECT_EQ(f16_to_float(0xc000), -2.0f);
  EXPECT_EQ(f16_to_float(0x0001), 0x1p-24f);               // the smallest subnormal
  EXPECT_EQ(f16_to_float(0x03ff), 1023.0f * 0x1p-24f);     // the largest subnormal
  EXPECT_EQ(f16_to_float(0x0400), 0x1p-14f);               // the smallest normal
  EXPECT_EQ(f16_to_float(0x7bff), 65504.0f);               // the largest finite
  EXPECT_EQ(f16_to_float(0xfc00), -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::signbit(f16_to_float(0x8000)));          // -0
  EXPECT_EQ(bf16_to_float(0x3f80), 1.0f);
  EXPECT_EQ(bf16_to_float(0x0001), 0x1p-133f);             // the smallest subnormal
  EXPECT_EQ(bf16_to_float(0x7f7f), 0x1.fep127f);           // the largest finite
  EXPECT_EQ(bf16_to_float(0x7f80), std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(bf16_to_float(0xffc1)));
}

TEST_F(SafetensorsTest, ReadsHalfBfloat16AndInt64Tensors) {
  // h: F16 (2, 2): 1, -0 (0x8000), the smallest subnormal, NaN; b: BF16 (3): 0.5, -inf,
  // a subnormal; n: I64 (3): values no float holds exactly; c: I64 []. Laid out by dtype
  // as safetensors writes them (I64 first, then by name).
  const std::int64_t big = (std::int64_t{1} << 53) + 1;
  std::string data = le_bytes(std::uint64_t(-7), 8) + le_bytes(std::uint64_t(big), 8) +
                     le_bytes(std::uint64_t(std::numeric_limits<std::int64_t>::min()), 8) +
                     le_bytes(16777217, 8);
  data += le_bytes(0x3f00, 2) + le_bytes(0xff80, 2) + le_bytes(0x0003, 2);
  data += le_bytes(0x3c00, 2) + le_bytes(0x8000, 2) + le_bytes(0x0001, 2) + le_bytes(0x7e00, 2);
  const std::string path = write_file(
      "kinds.safetensors",
      R"({"n":{"dtype":"I64","shape":[3],"data_offsets":[0,24]},)"
      R"("c":{"dtype":"I64","shape":[],"data_offsets":[24,32]},)"
      R"("b":{"dtype":"BF16","shape":[3],"data_offsets":[32,38]},)"
      R"("h":{"dtype":"F16","shape":[2,2],"data_offsets":[38,46]}})",
      data);
  const auto t = read_safetensors(path);
  ASSERT_EQ(t.size(), 4u);

  const StoredTensor& h = t.at("h");
  EXPECT_EQ(h.dtype, DType::F16);
  EXPECT_EQ(h.shape, (Shape{2, 2}));
  ASSERT_EQ(shape_of(h.values), (Shape{2, 2}));
  EXPECT_EQ(h.values(0, 0), 1.0f);
  EXPECT_EQ(h.values(0, 1), 0.0f);
  EXPECT_TRUE(std::signbit(h.values(0, 1)));
  EXPECT_EQ(h.values(1, 0), 0x1p-24f);
  EXPECT_TRUE(std::isnan(h.values(1, 1)));
  EXPECT_TRUE(h.ints.empty());

  const StoredTensor& b = t.at("b");
  EXPECT_EQ(b.dtype, DType::BF16);
  ASSERT_EQ(b.values.size(), 3u);
  EXPECT_EQ(b.values(0), 0.5f);
  EXPECT_EQ(b.values(1), -std::numeric_limits<float>::infinity());
  EXPECT_EQ(b.values(2), 3.0f * 0x1p-133f);

  const StoredTensor& n = t.at("n");
  EXPECT_EQ(n.dtype, DType::I64);
  EXPECT_EQ(n.shape, (Shape{3}));
  EXPECT_EQ(n.ints, (std::vector<std::int64_t>{-7, big, std::numeric_limits<std::int64_t>::min()}));
  EXPECT_EQ(n.values.size(), 0u);
  EXPECT_EQ(t.at("c").shape, Shape{});
  EXPECT_EQ(t.at("c").ints, std::vector<std::int64_t>{16777217});
}

TEST_F(SafetensorsTest, SavesInt64TensorsAsI64) {
  const std::int64_t count = (std::int64_t{1} << 40) + 3;
  const std::vector<std::int64_t> row = {-1, 0, std::numeric_limits<std::int64_t>::max()};
  const Tensor w = ramp({2});
  const std::string path = file("ints.safetensors");
  save_safetensors({{"w", &w}, {"count", &count, Shape{}}, {"row", row.data(), Shape{3}}}, path);

  const std::string bytes = read_bytes(path);
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  const auto j = nlohmann::json::parse(bytes.substr(8, n));
  EXPECT_EQ(j["count"]["dtype"], "I64");
  EXPECT_EQ(j["count"]["shape"], nlohmann::json::array());
  EXPECT_EQ(j["count"]["data_offsets"], (nlohmann::json{8, 16}));
  EXPECT_EQ(j["row"]["data_offsets"], (nlohmann::json{16, 40}));
  EXPECT_EQ(bytes.substr(8 + n + 8, 8), le_bytes(std::uint64_t(count), 8));

  const auto back = read_safetensors(path);
  EXPECT_EQ(back.at("count").ints, std::vector<std::int64_t>{count});
  EXPECT_EQ(back.at("row").ints, row);
  EXPECT_TRUE(same_bits(back.at("w").values, w));
}

TEST_F(SafetensorsTest, OtherDtypesAndBadSizesThrowNamingFileTensorAndDtype) {
  for (const char* dtype : {"F64", "I32", "U8", "BOOL", "F8_E4M3", "f32", ""}) {
    const std::string header = std::string(R"({"w":{"dtype":")") + dtype +
                               R"(","shape":[2],"data_offsets":[0,8]}})";
    const std::string path = write_file(std::string("dtype-") + dtype + ".safetensors", header,
                                        kEightBytes);
    expect_read_error(path, {"tensor 'w'", std::string("dtype ") + dtype});
  }
  expect_read_error(
      write_file("i64size.safetensors", R"({"c":{"dtype":"I64","shape":[2],"data_offsets":[0,8]}})",
                 kEightBytes),
      {"tensor 'c'", "16 bytes as I64", "span 8 bytes"});
  expect_read_error(
      write_file("f16size.safetensors", R"({"h":{"dtype":"F16","shape":[3],"data_offsets":[0,8]}})",
                 kEightBytes),
      {"tensor 'h'", "6 bytes as F16"});
  expect_read_error(
      write_file("nodtype.safetensors", R"({"h":{"shape":[2],"data_offsets":[0,8]}})", kEightBytes),
      {"tensor 'h'", "no \"dtype\""});

  const std::string path = file("null.safetensors");
  expect_error_naming(
      [&] { save_safetensors({{"c", static_cast<const std::int64_t*>(nullptr), Shape{}}}, path); },
      {path, "'c' is a null pointer"});
}
