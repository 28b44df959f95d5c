#include "checkpoint.hpp"

#include <cxxabi.h>

#include <algorithm>
#include <bit>
#include <list>
#include <cstdlib>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string_view>
#include <typeinfo>
#include <utility>

#include "../core/random.hpp"
#include "../core/version.hpp"
#include "../layers/container.hpp"
#include "optimizer.hpp"
#include "schedule.hpp"

namespace minicnn {
namespace {

constexpr char kFloatDtypes[] = "F32 (or F16, BF16)";

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

// "SGD" for a minicnn::SGD: the dynamic type's name, so that a user's optimiser or
// schedule is named too.
std::string type_name(const std::type_info& type) {
  int status = 0;
  std::unique_ptr<char, void (*)(void*)> demangled(
      abi::__cxa_demangle(type.name(), nullptr, nullptr, &status), std::free);
  std::string name = status == 0 && demangled ? demangled.get() : type.name();
  constexpr std::string_view kOurs = "minicnn::";
  if (name.starts_with(kOurs)) name.erase(0, kOurs.size());
  return name;
}

std::string joined(const std::string& prefix, const std::string& name) {
  if (prefix.empty()) return name;
  if (name.empty()) return prefix;
  return prefix + "." + name;
}

// Each leaf layer of the tree as (path, name), the paths as the state_dict keys have them.
void collect_leaves(Layer& layer, const std::string& path,
                    std::vector<std::pair<std::string, std::string>>& rows) {
  if (auto* c = dynamic_cast<Container*>(&layer)) {
    for (std::size_t i = 0; i < c->size(); ++i)
      collect_leaves((*c)[i], joined(path, c->child_name(i)), rows);
    return;
  }
  rows.emplace_back(path, layer.name());
}

std::string layer_list(Layer& model) {
  std::vector<std::pair<std::string, std::string>> rows;
  collect_leaves(model, "", rows);
  std::size_t width = 1;
  for (const auto& r : rows) width = std::max(width, r.first.size());
  std::string out(width + 2, ' ');
  out[0] = '#';
  out += "Layer\n";
  for (const auto& [path, name] : rows)
    out += path + std::string(width + 2 - path.size(), ' ') + name + '\n';
  return out;
}

std::string summary_of(Layer& model, const Shape& input_shape) {
  if (input_shape.empty()) return layer_list(model);
  if (auto* c = dynamic_cast<Container*>(&model)) return c->summary(input_shape);
  return model.name_for(input_shape) + ": " + to_string(input_shape) + " -> " +
         to_string(model.output_shape(input_shape)) + '\n';
}

SafetensorsMetadata metadata_of(Layer& model, const std::string& path, const SaveOptions& o) {
  SafetensorsMetadata meta{{"format", "pt"},
                           {"minicnn.version", kVersion},
                           {"minicnn.model", model.name()}};
  try {
    meta["minicnn.summary"] = summary_of(model, o.input_shape);
  } catch (const Error& e) {
    throw Error("save_safetensors: '" + path + "': no summary for input_shape " +
                to_string(o.input_shape) + ": " + e.what());
  }
  if (o.training) {
    const TrainingState& t = *o.training;
    meta["minicnn.epoch"] =
        std::to_string(t.epoch) + (t.epochs ? " of " + std::to_string(t.epochs) : "");
    if (t.optimizer) {
      meta["minicnn.optimizer"] =
          type_name(typeid(*t.optimizer)) + ", lr " + format_float(t.optimizer->lr());
    }
    if (t.resumable && t.optimizer) meta["minicnn.optimizer.kind"] = t.optimizer->kind();
    if (t.resumable && t.schedule) meta["minicnn.schedule.kind"] = type_name(typeid(*t.schedule));
    if (t.schedule) {
      const std::size_t steps = t.schedule->epoch();
      meta["minicnn.schedule"] = type_name(typeid(*t.schedule)) + ", lr " +
                                 format_float(t.schedule->lr()) + " after " +
                                 std::to_string(steps) + (steps == 1 ? " step" : " steps") +
                                 ", base lr " + format_float(t.schedule->base_lr());
    }
  }
  for (const auto& [key, value] : o.metadata) {
    if (!meta.emplace(key, value).second) {
      throw Error("save_safetensors: '" + path + "': metadata key '" + key +
                  "' is the library's own");
    }
  }
  return meta;
}

}  // namespace

bool LoadReport::fits() const {
  return missing.empty() && unexpected.empty() && shape_mismatches.empty() &&
         dtype_mismatches.empty();
}

std::string LoadReport::differences() const {
  std::string out;
  for (const std::string& n : missing) out += "missing tensor '" + n + "'\n";
  for (const std::string& n : unexpected) out += "unexpected tensor '" + n + "'\n";
  for (const Mismatch& m : shape_mismatches)
    out += "shape of '" + m.name + "' is " + m.in_file + ", expected " + m.in_model + '\n';
  for (const Mismatch& m : dtype_mismatches)
    out += "dtype of '" + m.name + "' is " + m.in_file + ", expected " + m.in_model + '\n';
  return out;
}

void save_safetensors(Layer& model, const std::string& path, const SaveOptions& options) {
  const std::vector<Parameter> state = state_of(model, "save_safetensors", path);
  const SafetensorsMetadata meta = metadata_of(model, path, options);
  TensorRefs refs;
  refs.reserve(state.size());
  for (const Parameter& p : state) {
    if (p.int64 != nullptr) {
      refs.emplace_back(p.name, p.int64, Shape{});
    } else {
      refs.emplace_back(p.name, p.value);
    }
  }
  // What the training tensors point to while the file is written; a list never moves them.
  std::list<std::vector<std::int64_t>> ints;
  std::list<Tensor> floats;
  if (options.training && options.training->resumable) {
    const TrainingState& t = *options.training;
    if (t.optimizer == nullptr)
      throw Error("save_safetensors: '" + path + "': a resumable checkpoint needs the optimizer");
    const std::string pre = kTrainingPrefix;
    const auto add_ints = [&](const std::string& name, std::vector<std::int64_t> v) {
      const Shape shape{v.size()};
      refs.emplace_back(pre + name, ints.emplace_back(std::move(v)).data(), shape);
    };
    add_ints("epoch", {std::int64_t(t.epoch)});
    add_ints("optimizer.steps", {std::int64_t(t.optimizer->steps())});
    refs.emplace_back(pre + "optimizer.lr", &floats.emplace_back(Tensor{t.optimizer->lr()}));
    for (const Optimizer::StateTensor& s : t.optimizer->state())
      refs.emplace_back(pre + "optimizer." + s.name, s.value);
    if (t.schedule) add_ints("schedule.steps", {std::int64_t(t.schedule->steps())});
    for (const NamedRng& g : t.generators) {
      std::vector<std::int64_t> words;
      for (std::uint64_t w : g.rng->state()) words.push_back(std::bit_cast<std::int64_t>(w));
      add_ints("rng." + g.name, std::move(words));
    }
  }
  save_safetensors(refs, path, meta);
}

LoadReport load_safetensors(Layer& model, const std::string& path, const LoadOptions& options) {
  const std::vector<Parameter> state = state_of(model, "load_safetensors", path);
  LoadReport report;
  const std::map<std::string, StoredTensor> file = read_safetensors(path, &report.metadata);

  std::vector<std::pair<const Parameter*, const StoredTensor*>> fitting;
  std::set<std::string> expected;
  for (const Parameter& p : state) {
    expected.insert(p.name);
    const auto it = file.find(p.name);
    if (it == file.end()) {
      (p.int64 ? report.kept_counts : report.missing).push_back(p.name);
      continue;
    }
    const StoredTensor& t = it->second;
    const bool want_ints = p.int64 != nullptr;
    if ((t.dtype == DType::I64) != want_ints) {
      report.dtype_mismatches.push_back(
          {p.name, std::string(dtype_name(t.dtype)), want_ints ? "I64" : kFloatDtypes});
      continue;
    }
    const Shape want = want_ints ? Shape{} : shape_of(*p.value);
    if (t.shape != want) {
      report.shape_mismatches.push_back({p.name, to_string(t.shape), to_string(want)});
      continue;
    }
    fitting.emplace_back(&p, &t);
  }
  for (const auto& [name, t] : file)
    if (!expected.contains(name) && !name.starts_with(kTrainingPrefix))
      report.unexpected.push_back(name);

  if (options.strict && !report.fits()) {
    std::string counts;
    const auto add = [&](std::size_t n, const char* one, const char* many) {
      if (n == 0) return;
      if (!counts.empty()) counts += ", ";
      counts += std::to_string(n) + " " + (n == 1 ? one : many);
    };
    add(report.missing.size(), "missing", "missing");
    add(report.unexpected.size(), "unexpected", "unexpected");
    add(report.shape_mismatches.size(), "shape mismatch", "shape mismatches");
    add(report.dtype_mismatches.size(), "dtype mismatch", "dtype mismatches");
    std::string listed;
    std::istringstream lines(report.differences());
    for (std::string line; std::getline(lines, line);) listed += "\n  " + line;
    throw Error("load_safetensors: '" + path + "' does not fit " + model.name() + ": " + counts +
                " (the model is unchanged)" + listed);
  }

  for (const auto& [p, t] : fitting) {
    if (p->int64 != nullptr) {
      *p->int64 = t->ints.front();
    } else {
      std::copy(t->values.data(), t->values.data() + t->values.size(), p->value->data());
    }
    report.loaded.push_back(p->name);
  }
  return report;
}

namespace {

// The one value of an I64 (1) tensor of the file, or -1 with a problem noted.
std::int64_t count_in(const std::map<std::string, StoredTensor>& file, const std::string& key,
                      std::vector<std::string>& problems) {
  const auto it = file.find(key);
  if (it == file.end()) {
    problems.push_back("missing '" + key + "'");
    return -1;
  }
  if (it->second.dtype != DType::I64 || it->second.ints.size() != 1 || it->second.ints[0] < 0) {
    problems.push_back("'" + key + "' is not one count (I64 of shape (1,))");
    return -1;
  }
  return it->second.ints[0];
}

}  // namespace

ResumePoint load_training_checkpoint(Layer& model, Optimizer& opt, LRScheduler* schedule,
                                     const std::vector<NamedRng>& generators,
                                     const std::string& path,
                                     const SafetensorsMetadata& expected) {
  ResumePoint point;
  const std::map<std::string, StoredTensor> file = read_safetensors(path, &point.metadata);
  const std::string pre = kTrainingPrefix;
  const std::string where = "resume: '" + path + "'";
  if (!file.contains(pre + "epoch")) {
    throw Error(where + " holds no training state (no '" + pre +
                "epoch'): it is a model checkpoint, not one fit saved to resume from");
  }
  std::vector<std::string> problems;
  const auto meta = [&](const std::string& key) {
    const auto it = point.metadata.find(key);
    return it == point.metadata.end() ? std::string("none") : it->second;
  };

  for (const auto& [key, value] : expected)
    if (meta(key) != value)
      problems.push_back(key + " is '" + meta(key) + "', this run's '" + value + "'");
  const std::int64_t epoch = count_in(file, pre + "epoch", problems);
  const std::int64_t opt_steps = count_in(file, pre + "optimizer.steps", problems);
  if (meta("minicnn.optimizer.kind") != opt.kind()) {
    problems.push_back("the optimiser is " + opt.kind() + ", the file's " +
                       meta("minicnn.optimizer.kind"));
  }
  const auto lr_it = file.find(pre + "optimizer.lr");
  if (lr_it == file.end() || lr_it->second.dtype != DType::F32 || lr_it->second.values.size() != 1)
    problems.push_back("missing '" + pre + "optimizer.lr' (F32 of shape (1,))");

  // The optimiser's state tensors, both ways.
  const std::vector<Optimizer::StateTensor> opt_state = opt.state();
  std::set<std::string> wanted{pre + "epoch", pre + "optimizer.steps", pre + "optimizer.lr",
                               pre + "schedule.steps"};
  for (const Optimizer::StateTensor& s : opt_state) {
    const std::string key = pre + "optimizer." + s.name;
    wanted.insert(key);
    const auto it = file.find(key);
    if (it == file.end()) {
      problems.push_back("missing optimiser state '" + key + "' of " + opt.kind());
    } else if (it->second.dtype == DType::I64 || it->second.shape != shape_of(*s.value)) {
      problems.push_back("optimiser state '" + key + "' is " + to_string(it->second.shape) + " " +
                         std::string(dtype_name(it->second.dtype)) + ", expected " +
                         to_string(shape_of(*s.value)) + " F32");
    }
  }
  for (const NamedRng& g : generators) wanted.insert(pre + "rng." + g.name);
  for (const auto& [key, t] : file) {
    if (!key.starts_with(pre) || wanted.contains(key)) continue;
    if (key.starts_with(pre + "optimizer."))
      problems.push_back("optimiser state '" + key + "' in the file is not one of this " +
                         opt.kind() + "'s (other options, such as momentum?)");
    else
      problems.push_back("unexpected training state '" + key + "'");
  }

  // The schedule: there in both or in neither, of one kind.
  std::int64_t schedule_steps = 0;
  const bool file_schedule = file.contains(pre + "schedule.steps");
  if (schedule && !file_schedule) {
    problems.push_back("the run has a schedule, the file none");
  } else if (!schedule && file_schedule) {
    problems.push_back("the file has a schedule (" + meta("minicnn.schedule.kind") +
                       "), the run none");
  } else if (schedule) {
    schedule_steps = count_in(file, pre + "schedule.steps", problems);
    const std::string kind = type_name(typeid(*schedule));
    if (meta("minicnn.schedule.kind") != kind)
      problems.push_back("the schedule is " + kind + ", the file's " +
                         meta("minicnn.schedule.kind"));
  }

  // The generators: each state must be one an Rng takes.
  std::vector<std::vector<std::uint64_t>> rng_states;
  for (const NamedRng& g : generators) {
    const std::string key = pre + "rng." + g.name;
    const auto it = file.find(key);
    std::vector<std::uint64_t> words;
    if (it == file.end() || it->second.dtype != DType::I64) {
      problems.push_back("missing generator state '" + key + "' (I64)");
    } else {
      for (std::int64_t w : it->second.ints) words.push_back(std::bit_cast<std::uint64_t>(w));
      try {
        Rng probe;
        probe.set_state(words);
      } catch (const Error& e) {
        problems.push_back("generator state '" + key + "': " + e.what());
      }
    }
    rng_states.push_back(std::move(words));
  }

  if (!problems.empty()) {
    std::string listed;
    for (const std::string& p : problems) listed += "\n  " + p;
    throw Error(where + " does not fit this run (nothing was loaded):" + listed);
  }

  // Everything fits but the model, which load_safetensors checks before it changes it.
  try {
    load_safetensors(model, path);
  } catch (const Error& e) {
    throw Error(std::string("resume: ") + e.what());
  }
  for (const Optimizer::StateTensor& s : opt_state) {
    const Tensor& v = file.at(pre + "optimizer." + s.name).values;
    std::copy(v.data(), v.data() + v.size(), s.value->data());
  }
  opt.set_steps(std::size_t(opt_steps));
  if (schedule) schedule->set_steps(std::size_t(schedule_steps));
  opt.set_lr(lr_it->second.values.data()[0]);
  for (std::size_t i = 0; i < generators.size(); ++i) generators[i].rng->set_state(rng_states[i]);
  point.epoch = std::size_t(epoch);
  return point;
}

}  // namespace minicnn
