// libFuzzer target for the safetensors reader (io/safetensors.cpp) and the
// checkpoint loader on top of it (train/checkpoint.cpp): whatever the bytes,
// read_safetensors returns tensors whose sizes agree with their shapes or throws
// minicnn::Error, and load_safetensors either fills the model or throws Error and leaves
// it unchanged. A crash, a sanitizer report, another exception, an allocation past
// libFuzzer's limit or a hang is a bug; its input belongs in
// tests/data/fuzz-regressions/safetensors/ once fixed.
#include <minicnn/io/safetensors.hpp>
#include <minicnn/train/checkpoint.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "fuzz_input.hpp"

namespace {

using minicnn::Tensor;

// A model with a parameter and a buffer, as a checkpoint of the seed corpus holds:
// "weight" (2, 3), "bias" (3,) and "running" (3,).
class Model : public minicnn::Layer {
 public:
  Tensor forward_impl(const Tensor& x) override { return x; }
  void backward_impl(const Tensor& dy, Tensor* dx) override {
    if (dx) *dx = dy;
  }
  std::vector<minicnn::Parameter> parameters() override {
    return {{"weight", &weight_, &dweight_}, {"bias", &bias_, &dbias_}};
  }
  std::vector<minicnn::Parameter> buffers() override { return {{"running", &running_, nullptr}}; }
  minicnn::Shape output_shape(const minicnn::Shape& x) const override { return x; }
  std::string name() const override { return "FuzzModel"; }

  // The bytes of every tensor, to tell whether a failed load changed any.
  std::string bytes() const {
    std::string s;
    for (const Tensor* t : {&weight_, &bias_, &running_})
      s.append(reinterpret_cast<const char*>(t->data()), t->size() * sizeof(float));
    return s;
  }

 private:
  Tensor weight_ = minicnn::zeros({2, 3}), bias_ = minicnn::zeros({3}),
         running_ = minicnn::zeros({3});
  Tensor dweight_ = minicnn::zeros({2, 3}), dbias_ = minicnn::zeros({3});
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = minicnn_fuzz::write_input(data, size);
  try {
    minicnn::SafetensorsMetadata meta;
    for (const auto& [name, t] : minicnn::read_safetensors(path, &meta))
      if (t.size() != minicnn::numel(minicnn::shape_of(t))) std::abort();
  } catch (const minicnn::Error&) {
  }
  static Model model;
  const std::string before = model.bytes();
  try {
    minicnn::load_safetensors(model, path);
  } catch (const minicnn::Error&) {
    if (model.bytes() != before) std::abort();  // a failed load must change nothing
  }
  return 0;
}
