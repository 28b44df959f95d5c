// State dicts as PyTorch writes them (safetensors.torch.save_file(model.state_dict(), p)),
// built here byte by byte from the safetensors format, and loaded into minicnn twins.
//
// What safetensors writes (huggingface/safetensors, tensor.rs, `prepare` and the header's
// serialisation): the 8-byte little-endian header length; the header, compact JSON with
// "__metadata__" first when there is any (save_file without metadata writes none), then
// one entry per tensor, {"dtype":..,"shape":[..],"data_offsets":[b,e]} in that key order,
// the tensors sorted by dtype, widest alignment first (I64 before F32), then by name;
// spaces up to a multiple of 8 bytes; the data in the same order, back to back.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <minicnn/core/tensor.hpp>
#include <minicnn/io/safetensors.hpp>
#include <minicnn/layers/activation.hpp>
#include <minicnn/layers/batchnorm.hpp>
#include <minicnn/layers/concat.hpp>
#include <minicnn/layers/conv2d.hpp>
#include <minicnn/layers/conv_transpose2d.hpp>
#include <minicnn/layers/dense.hpp>
#include <minicnn/layers/flatten.hpp>
#include <minicnn/layers/residual.hpp>
#include <minicnn/layers/sequential.hpp>
#include <minicnn/train/checkpoint.hpp>
#include <set>
#include <string>
#include <vector>

#include "test_util.hpp"

using namespace minicnn;
using namespace minicnn::testing;

namespace {

// One tensor of a state_dict: F32 values or an I64 count.
struct Entry {
  std::string name;
  Shape shape;
  std::vector<float> f32;   // F32 when not empty or when ints is empty
  std::vector<std::int64_t> i64;
  bool is_int() const { return !i64.empty(); }
};

std::string le(std::uint64_t v, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}

std::string json_shape(const Shape& s) {
  std::string out = "[";
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i > 0) out += ',';
    out += std::to_string(s[i]);
  }
  return out + "]";
}

// The order safetensors writes: I64 (8-byte alignment) before F32 (4), then by name.
std::vector<Entry> in_pytorch_order(std::vector<Entry> entries) {
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    if (a.is_int() != b.is_int()) return a.is_int();
    return a.name < b.name;
  });
  return entries;
}

// The bytes of a safetensors file holding entries, laid out as above.
std::string pytorch_file(const std::vector<Entry>& unsorted) {
  const std::vector<Entry> entries = in_pytorch_order(unsorted);
  std::string header = "{", data;
  for (const Entry& e : entries) {
    std::string bytes;
    if (e.is_int()) {
      for (std::int64_t v : e.i64) bytes += le(static_cast<std::uint64_t>(v), 8);
    } else {
      for (float v : e.f32) {
        std::uint32_t u;
        std::memcpy(&u, &v, 4);
        bytes += le(u, 4);
      }
    }
    if (header.size() > 1) header += ',';
    header += "\"" + e.name + "\":{\"dtype\":\"";
    header += e.is_int() ? "I64" : "F32";
    header += "\",\"shape\":" + json_shape(e.shape);
    header += ",\"data_offsets\":[" + std::to_string(data.size()) + ",";
    header += std::to_string(data.size() + bytes.size()) + "]}";
    data += bytes;
  }
  header += "}";
  header.append((8 - header.size() % 8) % 8, ' ');
  return le(header.size(), 8) + header + data;
}

// Deterministic values for tensor number k: a slow sine, in [lo, hi].
std::vector<float> values(std::size_t n, int k, float lo = -0.5f, float hi = 0.5f) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i)
    v[i] = lo + (hi - lo) * 0.5f * (1.0f + std::sin(0.7f * float(i) + 1.9f * float(k)));
  return v;
}

Entry f32(const std::string& name, const Shape& shape, int k, float lo = -0.5f, float hi = 0.5f) {
  return {name, shape, values(numel(shape), k, lo, hi), {}};
}

Entry count(const std::string& name, std::int64_t v) { return {name, {}, {}, {v}}; }

// ---- the model ------------------------------------------------------------------------
//
//   class BasicBlock(nn.Module):              # torchvision's, 2 channels, no projection
//       def __init__(self, c):
//           super().__init__()
//           self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
//           self.bn1 = nn.BatchNorm2d(c)
//           self.relu = nn.ReLU()
//           self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
//           self.bn2 = nn.BatchNorm2d(c)
//       def forward(self, x):
//           out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
//           return self.relu(out + x)
//
//   model = nn.Sequential(OrderedDict(block=BasicBlock(2), flatten=nn.Flatten(),
//                                     fc=nn.Linear(2 * 4 * 4, 3)))

constexpr std::size_t kC = 2, kH = 4, kW = 4, kOut = 3;

Sequential basic_block_twin() {
  Sequential body;
  body.add("conv1", Conv2D(kC, kC, 3, {.padding = 1, .bias = false}));
  body.add("bn1", BatchNorm2D(kC));
  body.add("relu", ReLU());
  body.add("conv2", Conv2D(kC, kC, 3, {.padding = 1, .bias = false}));
  body.add("bn2", BatchNorm2D(kC));
  Sequential model;
  model.add("block", Residual(own(std::move(body)), /*shortcut=*/nullptr, own(ReLU())));
  model.add("flatten", Flatten());
  model.add("fc", Dense(kC * kH * kW, kOut));
  return model;
}

const std::int64_t kTracked1 = 123456789012345;  // far past 2^24: no float holds it
const std::int64_t kTracked2 = 7;

std::vector<Entry> basic_block_state_dict() {
  return {f32("block.conv1.weight", {kC, kC, 3, 3}, 1),
          f32("block.bn1.weight", {kC}, 2, 0.5f, 1.5f),
          f32("block.bn1.bias", {kC}, 3),
          f32("block.bn1.running_mean", {kC}, 4),
          f32("block.bn1.running_var", {kC}, 5, 0.5f, 2.0f),
          count("block.bn1.num_batches_tracked", kTracked1),
          f32("block.conv2.weight", {kC, kC, 3, 3}, 6),
          f32("block.bn2.weight", {kC}, 7, 0.5f, 1.5f),
          f32("block.bn2.bias", {kC}, 8),
          f32("block.bn2.running_mean", {kC}, 9),
          f32("block.bn2.running_var", {kC}, 10, 0.5f, 2.0f),
          count("block.bn2.num_batches_tracked", kTracked2),
          f32("fc.weight", {kOut, kC * kH * kW}, 11),
          f32("fc.bias", {kOut}, 12)};
}

const std::vector<float>& get(const std::vector<Entry>& sd, const std::string& name) {
  for (const Entry& e : sd)
    if (e.name == name) return e.f32;
  throw Error("no " + name);
}

// The model's output in eval mode, straight from the formulas, in double: x (N, C, H, W).
std::vector<double> reference_forward(const std::vector<Entry>& sd, const std::vector<double>& x,
                                      std::size_t N) {
  const auto at = [](std::size_t n, std::size_t c, std::size_t i, std::size_t j) {
    return ((n * kC + c) * kH + i) * kW + j;
  };
  // y[n,k,i,j] = Σ_c Σ_u Σ_v w[k,c,u,v] · in[n,c,i+u−1,j+v−1], zero outside the plane.
  const auto conv3x3 = [&](const std::vector<double>& in, const std::vector<float>& w) {
    std::vector<double> y(in.size(), 0.0);
    for (std::size_t n = 0; n < N; ++n)
      for (std::size_t k = 0; k < kC; ++k)
        for (std::size_t i = 0; i < kH; ++i)
          for (std::size_t j = 0; j < kW; ++j) {
            double s = 0;
            for (std::size_t c = 0; c < kC; ++c)
              for (std::size_t u = 0; u < 3; ++u)
                for (std::size_t v = 0; v < 3; ++v) {
                  const long ii = long(i + u) - 1, jj = long(j + v) - 1;
                  if (ii < 0 || jj < 0 || ii >= long(kH) || jj >= long(kW)) continue;
                  s += double(w[((k * kC + c) * 3 + u) * 3 + v]) * in[at(n, c, ii, jj)];
                }
            y[at(n, k, i, j)] = s;
          }
    return y;
  };
  // γ·(y − mean)/sqrt(var + 1e-5) + β with the running statistics.
  const auto bn = [&](std::vector<double> y, const std::string& p) {
    const auto &g = get(sd, p + ".weight"), &b = get(sd, p + ".bias");
    const auto &m = get(sd, p + ".running_mean"), &v = get(sd, p + ".running_var");
    for (std::size_t n = 0; n < N; ++n)
      for (std::size_t c = 0; c < kC; ++c)
        for (std::size_t i = 0; i < kH * kW; ++i) {
          double& e = y[(n * kC + c) * kH * kW + i];
          e = g[c] * (e - m[c]) / std::sqrt(double(v[c]) + 1e-5) + b[c];
        }
    return y;
  };
  const auto relu = [](std::vector<double> y) {
    for (double& e : y) e = std::max(e, 0.0);
    return y;
  };
  std::vector<double> out =
      bn(conv3x3(relu(bn(conv3x3(x, get(sd, "block.conv1.weight")), "block.bn1")),
                 get(sd, "block.conv2.weight")),
         "block.bn2");
  for (std::size_t i = 0; i < out.size(); ++i) out[i] += x[i];
  out = relu(out);
  const auto &fw = get(sd, "fc.weight"), &fb = get(sd, "fc.bias");
  const std::size_t F = kC * kH * kW;
  std::vector<double> logits(N * kOut);
  for (std::size_t n = 0; n < N; ++n)
    for (std::size_t o = 0; o < kOut; ++o) {
      double s = fb[o];
      for (std::size_t f = 0; f < F; ++f) s += double(fw[o * F + f]) * out[n * F + f];
      logits[n * kOut + o] = s;
    }
  return logits;
}

class PyTorchFileTest : public TempDirTest {};

}  // namespace

TEST_F(PyTorchFileTest, BasicBlockStateDictLoadsAndGivesPyTorchsOutputs) {
  const std::vector<Entry> sd = basic_block_state_dict();
  const std::string bytes = pytorch_file(sd);
  // The header as safetensors writes it: the counts first, then the rest by name.
  const std::string expected_start =
      R"({"block.bn1.num_batches_tracked":{"dtype":"I64","shape":[],"data_offsets":[0,8]},)"
      R"("block.bn2.num_batches_tracked":{"dtype":"I64","shape":[],"data_offsets":[8,16]},)"
      R"("block.bn1.bias":{"dtype":"F32","shape":[2],"data_offsets":[16,24]},)"
      R"("block.bn1.running_mean":)";
  ASSERT_EQ(bytes.substr(8, expected_start.size()), expected_start);
  const std::string path = file("block.safetensors");
  write_bytes(path, bytes);

  Sequential model = basic_block_twin();
  const LoadReport report = load_safetensors(model, path);
  EXPECT_TRUE(report.fits());
  EXPECT_EQ(report.loaded.size(), sd.size());
  EXPECT_TRUE(report.metadata.empty());

  Residual& block = static_cast<Residual&>(model.child("block"));
  Sequential& body = static_cast<Sequential&>(block[0]);
  EXPECT_EQ(static_cast<BatchNorm2D&>(body.child("bn1")).num_batches_tracked(), kTracked1);
  EXPECT_EQ(static_cast<BatchNorm2D&>(body.child("bn2")).num_batches_tracked(), kTracked2);

  const std::size_t N = 2;
  const Tensor x = random_tensor({N, kC, kH, kW}, 11) * 2.0f;
  const std::vector<double> xd(x.data(), x.data() + x.size());
  const std::vector<double> expected = reference_forward(sd, xd, N);
  model.set_training(false);
  const Tensor y = model.forward(x);
  ASSERT_EQ(shape_of(y), (Shape{N, kOut}));
  for (std::size_t i = 0; i < y.size(); ++i)
    EXPECT_NEAR(y.data()[i], expected[i], 1e-4) << "logit " << i;
  // Not a trivial comparison: the logits are spread.
  EXPECT_GT(*std::max_element(expected.begin(), expected.end()) -
                *std::min_element(expected.begin(), expected.end()),
            0.1);
}

TEST_F(PyTorchFileTest, SavedAgainItHoldsTheSameStateDictForPyTorch) {
  const std::vector<Entry> sd = basic_block_state_dict();
  const std::string in = file("from_pytorch.safetensors"), out = file("to_pytorch.safetensors");
  write_bytes(in, pytorch_file(sd));
  Sequential model = basic_block_twin();
  load_safetensors(model, in);
  save_safetensors(model, out);

  // Every key, with PyTorch's dtype and shape and the same values: torch's
  // load_state_dict(load_file(out)) takes it as it took the original.
  const auto back = read_safetensors(out);
  ASSERT_EQ(back.size(), sd.size());
  for (const Entry& e : sd) {
    ASSERT_EQ(back.count(e.name), 1u) << e.name;
    const StoredTensor& t = back.at(e.name);
    EXPECT_EQ(t.shape, e.shape) << e.name;
    if (e.is_int()) {
      EXPECT_EQ(t.dtype, DType::I64) << e.name;
      EXPECT_EQ(t.ints, e.i64) << e.name;
    } else {
      EXPECT_EQ(t.dtype, DType::F32) << e.name;
      EXPECT_TRUE(std::equal(e.f32.begin(), e.f32.end(), t.values.data())) << e.name;
    }
  }

  // Training on counts from where PyTorch stopped.
  Residual& block = static_cast<Residual&>(model.child("block"));
  BatchNorm2D& bn1 = static_cast<BatchNorm2D&>(static_cast<Sequential&>(block[0]).child("bn1"));
  model.set_training(true);
  model.forward(random_tensor({2, kC, kH, kW}, 3));
  EXPECT_EQ(bn1.num_batches_tracked(), kTracked1 + 1);
}

// A model of every kind of layer with state, in nested containers:
//
//   class Net(nn.Module):
//       def __init__(self):
//           super().__init__()
//           self.features = nn.Sequential(
//               nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
//               nn.Sequential(nn.Conv2d(4, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4)))
//           self.heads = nn.ModuleDict({"a": nn.Conv2d(4, 2, 1),
//                                       "b": nn.Sequential(nn.Conv2d(4, 2, 3, padding=1),
//                                                          nn.ReLU())})
//           self.up = nn.ConvTranspose2d(4, 3, 2, stride=2)
//           self.fc = nn.Linear(3 * 8 * 8, 5)
//       def forward(self, x):
//           x = self.features(x)
//           x = torch.cat([self.heads["a"](x), self.heads["b"](x)], 1)
//           return self.fc(torch.flatten(self.up(x), 1))
TEST_F(PyTorchFileTest, NestedContainersAndEveryLayerKindHavePyTorchsKeys) {
  Sequential features;
  features.add(Conv2D(1, 4, 3, {.padding = 1}));
  features.add(BatchNorm2D(4));
  features.add(ReLU());
  Sequential inner;
  inner.add(Conv2D(4, 4, 3, {.padding = 1, .bias = false}));
  inner.add(BatchNorm2D(4));
  features.add(std::move(inner));
  Concat heads;
  heads.add("a", Conv2D(4, 2, 1));
  Sequential b;
  b.add(Conv2D(4, 2, 3, {.padding = 1}));
  b.add(ReLU());
  heads.add("b", std::move(b));
  Sequential net;
  net.add("features", std::move(features));
  net.add("heads", std::move(heads));
  net.add("up", ConvTranspose2D(4, 3, 2, {.stride = 2}));
  net.add("flatten", Flatten());
  net.add("fc", Dense(3 * 8 * 8, 5));

  std::vector<Entry> sd = {
      f32("features.0.weight", {4, 1, 3, 3}, 1),   f32("features.0.bias", {4}, 2),
      f32("features.1.weight", {4}, 3),            f32("features.1.bias", {4}, 4),
      f32("features.1.running_mean", {4}, 5),      f32("features.1.running_var", {4}, 6, 0.5f, 2),
      count("features.1.num_batches_tracked", 40), f32("features.3.0.weight", {4, 4, 3, 3}, 7),
      f32("features.3.1.weight", {4}, 8),          f32("features.3.1.bias", {4}, 9),
      f32("features.3.1.running_mean", {4}, 10),
      f32("features.3.1.running_var", {4}, 11, 0.5f, 2),
      count("features.3.1.num_batches_tracked", 41),
      f32("heads.a.weight", {2, 4, 1, 1}, 12),     f32("heads.a.bias", {2}, 13),
      f32("heads.b.0.weight", {2, 4, 3, 3}, 14),   f32("heads.b.0.bias", {2}, 15),
      f32("up.weight", {4, 3, 2, 2}, 16),          f32("up.bias", {3}, 17),
      f32("fc.weight", {5, 3 * 8 * 8}, 18),        f32("fc.bias", {5}, 19)};

  std::set<std::string> ours, theirs;
  for (const Parameter& p : net.parameters()) ours.insert(p.name);
  for (const Parameter& p : net.buffers()) ours.insert(p.name);
  for (const Entry& e : sd) theirs.insert(e.name);
  EXPECT_EQ(ours, theirs);

  const std::string path = file("net.safetensors");
  write_bytes(path, pytorch_file(sd));
  load_safetensors(net, path);  // strict: every key, shape and dtype fits
  auto& up = static_cast<ConvTranspose2D&>(net.child("up"));
  const std::vector<float>& w = get(sd, "up.weight");
  EXPECT_TRUE(std::equal(w.begin(), w.end(), up.weight().data()));
  EXPECT_EQ(shape_of(net.forward(zeros({1, 1, 4, 4}))), (Shape{1, 5}));
}
