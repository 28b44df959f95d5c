// Checkpoints: a model's parameters and buffers as a safetensors file that PyTorch reads
// and writes (docs/pytorch.md).
//
//   save_safetensors(net, "lenet.safetensors");
//   load_safetensors(net, "lenet.safetensors");             // all or nothing
//   LoadReport r = load_safetensors(net, "other.safetensors", {.strict = false});
//
// Tensors: model.parameters() followed by model.buffers(), in that order in the file,
// under their names, which are PyTorch's state_dict keys ("0.weight",
// "layer1.0.bn1.running_mean"). Float tensors are saved as F32; integer buffers
// (Parameter::int64: BatchNorm2D's num_batches_tracked) as I64 of shape [], as PyTorch
// saves them. Gradients are not saved; optimiser state only in a resumable training
// checkpoint (below).
//
// Metadata: the header's "__metadata__" (strings), so that a file says what it holds:
//   format             "pt", as safetensors.torch writes it
//   minicnn.version    kVersion (core/version.hpp) of the library that wrote the file
//   minicnn.model      model.name()
//   minicnn.summary    the summary of a Container (Container::summary: each leaf layer by
//                      its path, its output shape, parameters and FLOPs) for
//                      SaveOptions::input_shape; without one, each leaf layer's path and
//                      name (the shapes of its tensors are the header's)
//   and for a training checkpoint (SaveOptions::training; fit saves one each epoch):
//   minicnn.epoch      "3 of 12": the epochs the weights have trained
//   minicnn.optimizer  "SGD, lr 0.02": its type and learning rate
//   minicnn.schedule   "CosineLR, lr 0.0195 after 1 step, base lr 0.02"
//   then SaveOptions::metadata, the caller's own entries (which may not reuse these keys).
//
// A resumable training checkpoint (TrainingState::resumable; fit writes one) holds, after
// the model's tensors, what a resumed run needs to go on exactly as if never stopped,
// under the prefix "__training__." that no model key has:
//   __training__.epoch                     I64 (1)  epochs trained
//   __training__.optimizer.steps           I64 (1)  optimiser steps taken
//   __training__.optimizer.lr              F32 (1)  its learning rate
//   __training__.optimizer.<state>         F32      Optimizer::state(), e.g.
//                                     "__training__.optimizer.momentum_buffer.0.weight"
//   __training__.schedule.steps            I64 (1)  LRScheduler::steps(), with a schedule
//   __training__.rng.<name>                I64 (n)  a generator's state (Rng::state(), the
//                                                   uint64 words stored as int64 bits)
//   and the metadata minicnn.optimizer.kind ("SGD") and minicnn.schedule.kind ("OneCycleLR").
// One file, replaced at once, so weights and state never disagree. Loading a model
// (load_safetensors) skips these keys: a training checkpoint is a model checkpoint too.
// PyTorch's load_state_dict(strict=True) would list them as unexpected; drop the keys
// that start with "__training__." first.
//
// Loading reads the whole file and compares it with the model before it changes
// anything. What does not fit is collected, every key at once, into a LoadReport:
// tensors the model has and the file lacks (missing), tensors the file has and the model
// lacks (unexpected), and tensors of another shape or dtype. A float tensor accepts F32,
// F16 and BF16 (converted, exactly); an integer buffer I64 alone. An integer buffer
// absent from the file keeps its value (kept_counts), as PyTorch's BatchNorm2d keeps
// num_batches_tracked when a state_dict lacks it: files written before minicnn kept the
// count still load. Strict (the default), any difference throws one Error naming the file
// and listing every difference, and the model is unchanged:
//   load_safetensors: 'net.safetensors' does not fit Sequential(3 layers): 1 missing,
//   1 shape mismatch (the model is unchanged)
//     missing tensor '3.weight'
//     shape of '2.weight' is (3,), expected (5,)
// Not strict, what fits is loaded, the rest is left as it was, and the report says which
// is which. Values are copied into the model's existing tensors, which keep their storage.
// A file that is not valid safetensors throws Error (io/safetensors.hpp) either way.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "../core/random.hpp"
#include "../io/safetensors.hpp"
#include "../layers/layer.hpp"

namespace minicnn {

class Optimizer;
class LRScheduler;

// The prefix of a training checkpoint's own keys (see above).
inline constexpr char kTrainingPrefix[] = "__training__.";

// Where training stands when a checkpoint is saved.
struct TrainingState {
  Optimizer* optimizer = nullptr;   // nullptr: not recorded
  LRScheduler* schedule = nullptr;  // nullptr: none
  std::size_t epoch = 0;            // epochs trained
  std::size_t epochs = 0;           // epochs planned (0: not recorded)
  bool resumable = false;           // also save the state above; needs an optimizer
  std::vector<NamedRng> generators = {};  // saved when resumable
};

struct SaveOptions {
  Shape input_shape = {};                       // for the summary; {}: none
  std::optional<TrainingState> training = {};   // a training checkpoint's state
  SafetensorsMetadata metadata = {};            // more entries of the caller's
};

void save_safetensors(Layer& model, const std::string& path, const SaveOptions& options = {});

struct LoadOptions {
  bool strict = true;  // any difference throws and loads nothing
};

struct LoadReport {
  struct Mismatch {
    std::string name;
    std::string in_file;   // "(3,)", or "I64"
    std::string in_model;  // "(5,)", or "F32 (or F16, BF16)"
  };
  std::vector<std::string> loaded;      // copied into the model
  std::vector<std::string> missing;     // the model's, not in the file: left as they were
  std::vector<std::string> unexpected;  // the file's, not in the model: ignored
  std::vector<Mismatch> shape_mismatches;  // left as they were
  std::vector<Mismatch> dtype_mismatches;  // left as they were
  std::vector<std::string> kept_counts;    // integer buffers not in the file: kept
  SafetensorsMetadata metadata;            // the file's "__metadata__"

  // Nothing missing, unexpected or mismatched.
  bool fits() const;
  // One line per difference, "missing tensor '3.weight'", in the order of the lists.
  std::string differences() const;
};

// Throws Error naming the file on a file that cannot be read, and, when options.strict,
// on any difference (see above).
LoadReport load_safetensors(Layer& model, const std::string& path, const LoadOptions& options = {});

// What a resumable checkpoint says of the run that wrote it.
struct ResumePoint {
  std::size_t epoch = 0;         // epochs trained
  SafetensorsMetadata metadata;  // the file's, the caller's entries included
};

// Loads a resumable training checkpoint into the model, the optimiser, the schedule
// (nullptr: the run has none) and the generators, all or nothing: everything is checked
// before anything changes. Each of these throws Error naming the file and what does not
// fit: a file without training state, an optimiser of another kind, state tensors
// missing, left over or of another shape, a schedule or generator the file lacks or holds
// unasked, a metadata entry other than in `expected` (the caller's own, such as fit's
// description of its run), and (through load_safetensors) a model the weights do not fit.
ResumePoint load_training_checkpoint(Layer& model, Optimizer& opt, LRScheduler* schedule,
                                     const std::vector<NamedRng>& generators,
                                     const std::string& path,
                                     const SafetensorsMetadata& expected = {});

}  // namespace minicnn
