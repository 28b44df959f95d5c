// libFuzzer target for the safetensors reader (io/safetensors.cpp) and the
// checkpoint loader on top of it (train/checkpoint.cpp): whatever the bytes,
// read_safetensors returns tensors whose sizes agree with their shapes and dtypes (F32,
// F16, BF16 as floats, I64 as int64s) and metadata of strings, or throws minicnn::Error
// naming the file; load_safetensors, strict, either fills the model or throws Error and
// leaves it unchanged, and, not strict, returns a report that accounts for every tensor
// of the model and of the file. A crash, a sanitizer report, another exception, an
// allocation past libFuzzer's limit or a hang is a bug; its input belongs in
// tests/data/fuzz-regressions/safetensors/ once fixed.
//
// The seed corpus (fuzz/corpus/safetensors/) holds files for this model, as minicnn and
// as PyTorch lay them out (I64 first), in F32, F16 and BF16, with and without metadata.
#include <minicnn/io/safetensors.hpp>
#include <minicnn/train/checkpoint.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "fuzz_input.hpp"

namespace {

using minicnn::Tensor;

// A model with parameters, a float buffer and an int64 buffer, as a checkpoint of the
// seed corpus holds: "weight" (2, 3), "bias" (3,), "running" (3,) and "count" (I64, []).
class Model : public minicnn::Layer {
 public:
  Tensor forward_impl(const Tensor& x) override { return x; }
  void backward_impl(const Tensor& dy, Tensor* dx) override {
    if (dx) *dx = dy;
  }
  std::vector<minicnn::Parameter> parameters() override {
    return {{"weight", &weight_, &dweight_}, {"bias", &bias_, &dbias_}};
  }
  std::vector<minicnn::Parameter> buffers() override {
    return {{"running", &running_, nullptr}, {"count", &count_view_, nullptr, &count_}};
  }
  minicnn::Shape output_shape(const minicnn::Shape& x) const override { return x; }
  std::string name() const override { return "FuzzModel"; }

  // The bytes of every tensor, to tell whether a failed load changed any.
  std::string bytes() const {
    std::string s;
    for (const Tensor* t : {&weight_, &bias_, &running_})
      s.append(reinterpret_cast<const char*>(t->data()), t->size() * sizeof(float));
    s.append(reinterpret_cast<const char*>(&count_), sizeof count_);
    return s;
  }

 private:
  Tensor weight_ = minicnn::zeros({2, 3}), bias_ = minicnn::zeros({3}),
         running_ = minicnn::zeros({3});
  Tensor dweight_ = minicnn::zeros({2, 3}), dbias_ = minicnn::zeros({3});
  std::int64_t count_ = 0;
  Tensor count_view_ = minicnn::zeros({});
};

// Whether a file that read without an error makes sense: every tensor's values agree with
// its dtype and shape.
bool consistent(const minicnn::StoredTensor& t) {
  const std::size_t n = minicnn::numel(t.shape);
  if (t.dtype == minicnn::DType::I64) return t.ints.size() == n && t.values.size() == 0;
  return t.ints.empty() && t.values.size() == n && minicnn::shape_of(t.values) == t.shape;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string path = minicnn_fuzz::write_input(data, size);
  std::size_t tensors_in_file = 0;
  bool readable = false;
  try {
    minicnn::SafetensorsMetadata meta;
    const auto file = minicnn::read_safetensors(path, &meta);
    for (const auto& [name, t] : file)
      if (!consistent(t)) std::abort();
    tensors_in_file = file.size();
    readable = true;
  } catch (const minicnn::Error& e) {
    if (std::strstr(e.what(), path.c_str()) == nullptr) std::abort();  // must name the file
  }
  static Model model;
  const std::string before = model.bytes();
  try {
    minicnn::load_safetensors(model, path);
  } catch (const minicnn::Error& e) {
    if (model.bytes() != before) std::abort();  // a failed load must change nothing
    if (std::strstr(e.what(), path.c_str()) == nullptr) std::abort();
  }
  try {
    const minicnn::LoadReport r = minicnn::load_safetensors(model, path, {.strict = false});
    if (!readable) std::abort();  // a file the reader rejects cannot load in part
    // Every tensor of the model is loaded, missing, kept or mismatched; every tensor of
    // the file is one of the model's or unexpected.
    const std::size_t model_side = r.loaded.size() + r.missing.size() + r.kept_counts.size() +
                                   r.shape_mismatches.size() + r.dtype_mismatches.size();
    const std::size_t file_side = r.loaded.size() + r.shape_mismatches.size() +
                                  r.dtype_mismatches.size() + r.unexpected.size();
    if (model_side != 4 || file_side != tensors_in_file) std::abort();
  } catch (const minicnn::Error&) {
    if (readable) std::abort();
  }
  return 0;
}
