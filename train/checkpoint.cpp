#include "checkpoint.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <vector>

#include "../io/safetensors.hpp"

namespace minicnn {
namespace {

// Parameters then buffers; throws when two share a name (they could not both be saved).
std::vector<Parameter> state_of(Layer& model, const char* who, const std::string& path) {
  std::vector<Parameter> all = model.parameters();
  for (Parameter& b : model.buffers()) all.push_back(std::move(b));
  std::set<std::string> names;
  for (const Parameter& p : all) {
    if (p.value == nullptr) {
      throw Error(std::string(who) + ": '" + path + "': tensor '" + p.name + "' of " +
                  model.name() + " has no value");
    }
    if (!names.insert(p.name).second) {
      throw Error(std::string(who) + ": '" + path + "': " + model.name() +
                  " has two tensors named '" + p.name + "'");
    }
  }
  return all;
}

}  // namespace

void save_safetensors(Layer& model, const std::string& path) {
  const std::vector<Parameter> state = state_of(model, "save_safetensors", path);
  TensorRefs refs;
  refs.reserve(state.size());
  for (const Parameter& p : state) refs.emplace_back(p.name, p.value);
  save_safetensors(refs, path, {{"format", "pt"}});
}

void load_safetensors(Layer& model, const std::string& path) {
  const std::vector<Parameter> state = state_of(model, "load_safetensors", path);
  std::map<std::string, Tensor> file = read_safetensors(path);
  const auto fail = [&](const std::string& what) {
    throw Error("load_safetensors: '" + path + "': " + what + " (the model is unchanged)");
  };

  std::set<std::string> expected;
  for (const Parameter& p : state) {
    expected.insert(p.name);
    const auto it = file.find(p.name);
    if (it == file.end()) fail("missing tensor '" + p.name + "'");
    const Shape have = shape_of(it->second), want = shape_of(*p.value);
    if (have != want) {
      fail("shape of '" + p.name + "' is " + to_string(have) + ", expected " + to_string(want));
    }
  }
  for (const auto& [name, t] : file) {
    if (!expected.contains(name)) fail("unexpected tensor '" + name + "'");
  }

  for (const Parameter& p : state) {
    const Tensor& src = file.at(p.name);
    std::copy(src.data(), src.data() + src.size(), p.value->data());
  }
}

}  // namespace minicnn
