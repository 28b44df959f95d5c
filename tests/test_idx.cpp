#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <minicnn/data/idx.hpp>
#include <minicnn/data/mnist.hpp>
#include <optional>
#include <string>
#include <vector>

#include "test_util.hpp"

using namespace minicnn;
using namespace minicnn::testing;
namespace fs = std::filesystem;

namespace {

class Idx : public TempDirTest {};

// The bytes of an IDX file: magic 00 00 type rank, big-endian dims, then data.
std::string idx_bytes(const std::vector<std::uint32_t>& dims, const std::vector<std::uint8_t>& data,
                      std::uint8_t type = 0x08) {
  std::string s = {0, 0, char(type), char(dims.size())};
  for (std::uint32_t d : dims)
    for (int shift = 24; shift >= 0; shift -= 8) s += char((d >> shift) & 0xff);
  s.append(data.begin(), data.end());
  return s;
}

std::vector<std::uint8_t> iota_bytes(std::size_t n, std::uint8_t mod = 251) {
  std::vector<std::uint8_t> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = std::uint8_t(i % mod);
  return v;
}

void write_gz(const std::string& path, const std::string& bytes) {
  gzFile gz = gzopen(path.c_str(), "wb");
  ASSERT_NE(gz, nullptr);
  ASSERT_EQ(gzwrite(gz, bytes.data(), unsigned(bytes.size())), int(bytes.size()));
  ASSERT_EQ(gzclose(gz), Z_OK);
}

// read_idx(file, rank) must throw an Error naming the file and every part.
void expect_idx_error(const std::string& file, std::vector<std::string> parts,
                      std::optional<std::size_t> rank = std::nullopt) {
  parts.push_back(file);
  expect_error_naming([&] { read_idx(file, rank); }, parts);
}

}  // namespace

TEST_F(Idx, ReadsARawFile) {
  const auto data = iota_bytes(3 * 2 * 4);
  write_bytes(file("a"), idx_bytes({3, 2, 4}, data));
  const IdxArray a = read_idx(file("a"), 3);
  EXPECT_EQ(a.dims, (Shape{3, 2, 4}));
  EXPECT_EQ(a.data, data);
  // Large dims use all four bytes of the big-endian header fields.
  const auto big = iota_bytes(70000);
  write_bytes(file("b"), idx_bytes({70000}, big));
  EXPECT_EQ(read_idx(file("b")).dims, Shape{70000});
  EXPECT_EQ(read_idx(file("b")).data, big);
}

TEST_F(Idx, ReadsGzipByItsMagicNotItsName) {
  const auto data = iota_bytes(5 * 7 * 3);
  const std::string bytes = idx_bytes({5, 7, 3}, data);
  write_gz(file("images.gz"), bytes);
  write_gz(file("no-suffix"), bytes);
  write_bytes(file("raw-but-named.gz"), bytes);
  for (const char* name : {"images.gz", "no-suffix", "raw-but-named.gz"}) {
    const IdxArray a = read_idx(file(name), 3);
    EXPECT_EQ(a.dims, (Shape{5, 7, 3})) << name;
    EXPECT_EQ(a.data, data) << name;
  }
  // A larger stream, several of the reader's chunks long.
  const auto many = iota_bytes(3u << 20, 253);
  write_gz(file("many.gz"), idx_bytes({3, 1u << 20}, many));
  EXPECT_EQ(read_idx(file("many.gz")).data, many);
}

TEST_F(Idx, ZeroItemsIsAnEmptyArray) {
  write_bytes(file("z"), idx_bytes({0, 28, 28}, {}));
  const IdxArray a = read_idx(file("z"), 3);
  EXPECT_EQ(a.dims, (Shape{0, 28, 28}));
  EXPECT_TRUE(a.data.empty());
}

TEST_F(Idx, MissingAndEmptyFiles) {
  expect_idx_error(file("nope"), {"cannot open", "no such file"});
  write_bytes(file("empty"), "");
  expect_idx_error(file("empty"), {"empty file"});
  write_gz(file("empty.gz"), "");
  expect_idx_error(file("empty.gz"), {"empty file"});
  expect_idx_error(dir_.string(), {"directory"});
}

TEST_F(Idx, WrongMagic) {
  write_bytes(file("m"), std::string("\x01\x02\x08\x01\x00\x00\x00\x01\x05", 9));
  expect_idx_error(file("m"), {"wrong magic", "0x01 0x02 0x08 0x01"});
  write_bytes(file("text"), "hello, not an idx file");
  expect_idx_error(file("text"), {"wrong magic"});
  write_bytes(file("short"), std::string("\x00\x00", 2));
  expect_idx_error(file("short"), {"truncated header"});
}

TEST_F(Idx, WrongTypeIsNamed) {
  write_bytes(file("f32"), idx_bytes({2}, iota_bytes(8), 0x0D));
  expect_idx_error(file("f32"), {"unsupported element type 0x0D (float32)", "0x08"});
  write_bytes(file("i32"), idx_bytes({2}, iota_bytes(8), 0x0C));
  expect_idx_error(file("i32"), {"0x0C (int32)"});
  write_bytes(file("odd"), idx_bytes({2}, iota_bytes(2), 0x42));
  expect_idx_error(file("odd"), {"unknown element type 0x42"});
}

TEST_F(Idx, WrongRank) {
  write_bytes(file("labels"), idx_bytes({4}, iota_bytes(4)));
  expect_idx_error(file("labels"), {"wrong rank", "expected rank 3", "says rank 1"}, 3);
  EXPECT_NO_THROW(read_idx(file("labels"), 1));
  write_bytes(file("rank0"), idx_bytes({}, {}));
  expect_idx_error(file("rank0"), {"rank 0"});
}

TEST_F(Idx, TruncatedHeaderAndData) {
  // Rank 3 needs 16 header bytes; the file stops after the first dimension.
  write_bytes(file("head"), idx_bytes({3, 4, 4}, {}).substr(0, 8));
  expect_idx_error(file("head"), {"truncated header", "16 header bytes", "holds 8"});
  // The data stops 8 bytes short.
  write_bytes(file("data"), idx_bytes({3, 4, 4}, iota_bytes(40)));
  expect_idx_error(file("data"), {"truncated data", "(3, 4, 4)", "48 bytes", "only 40"});
  write_gz(file("data.gz"), idx_bytes({3, 4, 4}, iota_bytes(40)));
  expect_idx_error(file("data.gz"), {"truncated data", "48 bytes", "only 40"});
}

TEST_F(Idx, HeaderClaimingMoreThanTheFileHolds) {
  // A tiny file whose header claims all of MNIST's training images.
  write_bytes(file("claims"), idx_bytes({60000, 28, 28}, iota_bytes(10)));
  expect_idx_error(file("claims"), {"claims", "(60000, 28, 28)", "47040000", "holds only 10"});
  // Compressed: more than deflate could ever expand the file to, caught before allocating.
  write_gz(file("claims.gz"), idx_bytes({0xffffffffu, 0xffffffffu}, iota_bytes(10)));
  expect_idx_error(file("claims.gz"), {"claims", "more than a gzip file"});
  // Dims whose product overflows 64 bits.
  write_bytes(file("overflow"), idx_bytes({0xffffffffu, 0xffffffffu, 0xffffffffu}, iota_bytes(4)));
  expect_idx_error(file("overflow"), {"claims more than the file holds", "overflow"});
}

TEST_F(Idx, TrailingBytes) {
  write_bytes(file("t"), idx_bytes({2, 2}, iota_bytes(7)));
  expect_idx_error(file("t"), {"3 trailing bytes", "(2, 2)", "4 bytes"});
  write_gz(file("t.gz"), idx_bytes({2, 2}, iota_bytes(5)));
  expect_idx_error(file("t.gz"), {"1 trailing bytes"});
}

TEST_F(Idx, CorruptGzip) {
  const std::string bytes = idx_bytes({64, 64}, iota_bytes(64 * 64, 7));
  write_gz(file("good.gz"), bytes);
  const std::string gz = read_bytes(file("good.gz"));
  ASSERT_GT(gz.size(), 30u);
  // Cut short: the deflate stream ends before its last block.
  write_bytes(file("cut.gz"), gz.substr(0, gz.size() / 2));
  expect_idx_error(file("cut.gz"), {"corrupt gzip"});
  // Damaged deflate data or CRC: zlib notices one or the other.
  std::string damaged = gz;
  for (std::size_t i = 12; i < damaged.size() - 8; i += 3) damaged[i] = char(damaged[i] ^ 0x5a);
  write_bytes(file("damaged.gz"), damaged);
  expect_idx_error(file("damaged.gz"), {"corrupt gzip"});
  std::string bad_crc = gz;
  bad_crc[bad_crc.size() - 6] = char(bad_crc[bad_crc.size() - 6] ^ 0xff);
  write_bytes(file("crc.gz"), bad_crc);
  expect_idx_error(file("crc.gz"), {"corrupt gzip"});
  // Only the gzip magic.
  write_bytes(file("magic-only.gz"), "\x1f\x8b");
  expect_idx_error(file("magic-only.gz"), {"gzip"});
}

TEST_F(Idx, LabelCountMustMatchImageCount) {
  write_bytes(file("images"), idx_bytes({3, 2, 2}, iota_bytes(12, 200)));
  write_bytes(file("labels"), idx_bytes({2}, {1, 2}));
  expect_error_naming([&] { load_idx_dataset(file("images"), file("labels")); },
                      {file("labels"), file("images"), "2 labels", "3 images"});
  // Rank is checked per file: labels must be rank 1, images rank 3.
  expect_error_naming([&] { load_idx_dataset(file("labels"), file("labels")); },
                      {file("labels"), "wrong rank"});
}

TEST_F(Idx, LabelsOutOfRange) {
  write_bytes(file("images"), idx_bytes({3, 2, 2}, iota_bytes(12, 200)));
  write_bytes(file("labels"), idx_bytes({3}, {1, 10, 2}));
  expect_error_naming([&] { load_idx_dataset(file("images"), file("labels")); },
                      {file("labels"), "label 10 at index 1", "[0, 10)"});
  const Dataset d = load_idx_dataset(file("images"), file("labels"), 11);
  EXPECT_EQ(d.size(), 3u);
  EXPECT_EQ(d.label(1), 10u);
}

TEST_F(Idx, LoadMnistAcceptsRawOrGz) {
  // A tiny MNIST-shaped folder: training files raw, test files compressed.
  write_bytes(file("train-images-idx3-ubyte"), idx_bytes({4, 28, 28}, iota_bytes(4 * 784)));
  write_bytes(file("train-labels-idx1-ubyte"), idx_bytes({4}, {0, 9, 3, 3}));
  write_gz(file("t10k-images-idx3-ubyte.gz"), idx_bytes({2, 28, 28}, iota_bytes(2 * 784, 13)));
  write_gz(file("t10k-labels-idx1-ubyte.gz"), idx_bytes({2}, {7, 1}));
  const auto [train, test] = load_mnist(dir_.string());
  EXPECT_EQ(train.shape(), (Shape{4, 1, 28, 28}));
  EXPECT_EQ(test.shape(), (Shape{2, 1, 28, 28}));
  EXPECT_EQ(train.labels(), (std::vector<std::uint8_t>{0, 9, 3, 3}));
  EXPECT_EQ(test.label(0), 7u);
  EXPECT_EQ(test.image(1)[5], (784 + 5) % 13);
  fs::remove(file("t10k-labels-idx1-ubyte.gz"));
  expect_error_naming([&] { load_fashion_mnist(dir_.string()); },
                      {file("t10k-labels-idx1-ubyte"), "load_fashion_mnist",
                       "t10k-labels-idx1-ubyte.gz", "neither"});
}

TEST(IdxData, RealMnistAndFashionTestSets) {
  const std::string mnist = MINICNN_SOURCE_DIR "/data/mnist/";
  const std::string fashion = MINICNN_SOURCE_DIR "/data/fashion-mnist/";
  if (!fs::exists(mnist + "t10k-labels-idx1-ubyte") ||
      !fs::exists(fashion + "t10k-labels-idx1-ubyte.gz"))
    GTEST_SKIP() << "datasets absent: run scripts/fetch-data.sh";
  const Dataset test =
      load_idx_dataset(mnist + "t10k-images-idx3-ubyte", mnist + "t10k-labels-idx1-ubyte");
  EXPECT_EQ(test.shape(), (Shape{10000, 1, 28, 28}));
  std::vector<std::size_t> per_class(10, 0);
  for (std::uint8_t l : test.labels()) {
    ASSERT_LT(l, 10);
    ++per_class[l];
  }
  for (std::size_t n : per_class) EXPECT_GT(n, 800u);  // every digit is there
  EXPECT_EQ(test.label(0), 7u);                        // the famous first test digit

  const Dataset ftest = load_idx_dataset(fashion + "t10k-images-idx3-ubyte.gz",
                                         fashion + "t10k-labels-idx1-ubyte.gz");
  EXPECT_EQ(ftest.shape(), (Shape{10000, 1, 28, 28}));
  std::vector<std::size_t> fclass(10, 0);
  for (std::uint8_t l : ftest.labels()) ++fclass[l];
  for (std::size_t n : fclass) EXPECT_EQ(n, 1000u);  // Fashion-MNIST's test set is balanced
}
