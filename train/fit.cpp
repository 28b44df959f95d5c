#include "fit.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>
#include <stdexcept>

#include "../core/ops.hpp"
#include "../data/prefetch.hpp"
#include "checkpoint.hpp"
#include "loss.hpp"

namespace minicnn {
namespace {

// Puts a model in a mode and back into the one it had, also when an exception leaves.
class ModeGuard {
 public:
  ModeGuard(Layer& model, bool training) : model_(model), before_(model.training()) {
    model_.set_training(training);
  }
  ~ModeGuard() { model_.set_training(before_); }
  ModeGuard(const ModeGuard&) = delete;
  ModeGuard& operator=(const ModeGuard&) = delete;

 private:
  Layer& model_;
  bool before_;
};

// The first parameter whose values (or, when grads, gradients) are not all finite.
const Parameter* first_non_finite(const std::vector<Parameter>& params, bool grads) {
  for (const Parameter& p : params) {
    const Tensor* t = grads ? p.grad : p.value;
    if (t != nullptr && !all_finite(t->data(), t->size())) return &p;
  }
  return nullptr;
}

std::string percent(double fraction) {
  char s[32];
  std::snprintf(s, sizeof s, "%.2f%%", 100.0 * fraction);
  return s;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

Evaluation evaluate(Layer& model, const Dataset& data, std::size_t batch_size, Normalization norm) {
  return evaluate(model, data, EvalOptions{.batch_size = batch_size, .norm = norm});
}

namespace {

// mirrored = x with every row reversed, x (B, C, H, W).
void mirror_rows(const Tensor& x, Tensor& mirrored) {
  if (mirrored.shape() != x.shape()) mirrored.resize(x.shape());
  const std::size_t W = x.shape()[3], rows = x.size() / W;
  const float* src = x.data();
  float* dst = mirrored.data();
  for (std::size_t r = 0; r < rows; ++r, src += W, dst += W)
    for (std::size_t i = 0; i < W; ++i) dst[i] = src[W - 1 - i];
}

// logits = log((softmax(logits) + softmax(other)) / 2), row by row, in place: with
// la, lb the two log-softmax values (each row's log-sum-exp from softmax_rows),
// log(e^la + e^lb) − log 2, exact for any logits.
void average_softmax(Tensor& logits, const Tensor& other) {
  const std::size_t B = logits.shape()[0], K = logits.shape()[1];
  std::vector<float> probs(B * K);  // softmax_rows' output, not needed here
  std::vector<double> lse_a(B), lse_b(B);
  softmax_rows(logits.data(), probs.data(), B, K, lse_a.data());
  softmax_rows(other.data(), probs.data(), B, K, lse_b.data());
  float* a = logits.data();
  const float* b = other.data();
  for (std::size_t i = 0; i < B; ++i, a += K, b += K) {
    const double za = lse_a[i], zb = lse_b[i];
    for (std::size_t k = 0; k < K; ++k) {
      const double la = double(a[k]) - za, lb = double(b[k]) - zb;
      const double hi = std::max(la, lb), lo = std::min(la, lb);
      a[k] = float(hi + std::log1p(std::exp(lo - hi)) - std::log(2.0));
    }
  }
}

}  // namespace

Evaluation evaluate(Layer& model, const Dataset& data, const EvalOptions& o) {
  Evaluation result{.confusion = ConfusionMatrix(data.num_classes() ? data.num_classes() : 1)};
  if (o.batch_size == 0) throw Error("evaluate: a batch size of 0");
  if (data.empty()) return result;
  ModeGuard eval_mode(model, false);
  BatchIterator batches(data, o.batch_size, /*shuffle=*/false, /*seed=*/0, {.norm = o.norm});
  double loss_sum = 0.0;
  Tensor mirrored;
  while (batches.next()) {
    Tensor logits = model.forward(batches.x());
    check_shape(shape_of(logits), {batches.y().size(), data.num_classes()}, "evaluate",
                "the model's output (logits)");
    if (o.flip) {
      mirror_rows(batches.x(), mirrored);
      average_softmax(logits, model.forward(mirrored));
    }
    loss_sum +=
        double(softmax_cross_entropy(logits, batches.y()).loss) * double(batches.y().size());
    result.confusion.add(logits, batches.y());
  }
  result.loss = loss_sum / double(data.size());
  result.accuracy = result.confusion.accuracy();
  return result;
}

namespace {

// What would otherwise fail only after an epoch of work: the shapes the model takes and
// gives, the test set's images, the optimiser's parameters, the checkpoint's folder.
void check_before_training(Layer& model, const Optimizer& opt, const std::vector<Parameter>& params,
                           const Dataset& train, const Dataset& test, const FitOptions& o) {
  const Shape x{o.batch_size, train.channels(), train.height(), train.width()};
  Shape y;
  try {
    y = model.output_shape(x);
  } catch (const Error& e) {
    throw Error(std::string("fit: the model cannot take the training images ") + to_string(x) +
                ": " + e.what());
  }
  if (y.size() != 2 || y[1] != train.num_classes()) {
    throw Error("fit: the model gives " + to_string(y) + " for " + to_string(x) + "; " +
                train.name() + " needs (N, " + std::to_string(train.num_classes()) +
                ") logits, one per class");
  }
  if (!test.empty() && (test.height() != train.height() || test.width() != train.width() ||
                        test.channels() != train.channels())) {
    throw Error("fit: the test images are " + std::to_string(test.channels()) + "x" +
                std::to_string(test.height()) + "x" + std::to_string(test.width()) +
                ", the training images " + std::to_string(train.channels()) + "x" +
                std::to_string(train.height()) + "x" + std::to_string(train.width()));
  }
  for (const Parameter& p : opt.params()) {
    const bool ours = std::any_of(params.begin(), params.end(),
                                  [&](const Parameter& q) { return q.value == p.value; });
    if (!ours)
      throw Error("fit: the optimiser holds a tensor '" + p.name +
                  "' that is not a parameter of the model (was it built for another model?)");
  }
  if (!o.checkpoint_path.empty()) {
    namespace fs = std::filesystem;
    const fs::path dir = fs::absolute(o.checkpoint_path).parent_path();
    std::error_code ec;
    if (!fs::is_directory(dir, ec))
      throw Error("fit: the checkpoint's folder " + dir.string() + " does not exist (checkpoint '" +
                  o.checkpoint_path + "')");
    if (::access(dir.c_str(), W_OK) != 0)
      throw Error("fit: cannot write into " + dir.string() + ", the checkpoint's folder");
  }
}

// The training set split in two: the images that train and those held out to validate.
struct Split {
  Dataset train, validation;
};

// A copy of the images at indices (in that order) as a dataset of its own.
Dataset gather(const Dataset& data, const std::vector<std::size_t>& indices,
               const std::string& name) {
  const std::size_t P = data.pixels();
  std::vector<std::uint8_t> images(indices.size() * P), labels(indices.size());
  for (std::size_t i = 0; i < indices.size(); ++i) {
    std::copy(data.image(indices[i]), data.image(indices[i]) + P, images.begin() + i * P);
    labels[i] = std::uint8_t(data.label(indices[i]));
  }
  return Dataset(std::move(images), std::move(labels), data.height(), data.width(),
                 data.num_classes(), name);
}

// How many images validation holds out: validation_count, else the fraction, rounded.
std::size_t validation_size(const Dataset& train, const FitOptions& o) {
  check_arg(o.validation_fraction >= 0.0 && o.validation_fraction < 1.0, "fit",
            "validation_fraction", "in [0, 1)", format_float(o.validation_fraction));
  const std::size_t n =
      o.validation_count > 0
          ? o.validation_count
          : std::size_t(std::llround(o.validation_fraction * double(train.size())));
  if (n == 0 && o.validation_count == 0 && o.validation_fraction == 0.0) return 0;
  if (n == 0 || n >= train.size())
    throw Error("fit: a validation split of " + std::to_string(n) + " of the " +
                std::to_string(train.size()) + " images of " + train.name() +
                " leaves none on one side");
  return n;
}

// n images drawn by a seeded Fisher–Yates shuffle are held out; each side keeps the
// dataset's order.
Split split_validation(const Dataset& data, std::size_t n, std::uint64_t seed) {
  std::vector<std::size_t> order(data.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  Rng rng(seed);
  for (std::size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[rng.next() % i]);
  std::vector<std::size_t> held(order.begin(), order.begin() + std::ptrdiff_t(n));
  std::vector<std::size_t> kept(order.begin() + std::ptrdiff_t(n), order.end());
  std::sort(held.begin(), held.end());
  std::sort(kept.begin(), kept.end());
  return {gather(data, kept, data.name() + " (training part)"),
          gather(data, held, data.name() + " (validation part)")};
}

// fit's own part of a resumable checkpoint, in its metadata: what the run must share
// with the one it resumes, and where early stopping stands.
struct FitProgress {
  double best_val_acc = -1.0;  // -1: no validation yet
  std::size_t best_epoch = 0;
  std::size_t stale_epochs = 0;  // epochs since the best
};

std::string run_signature(const FitOptions& o, std::size_t train_size, std::size_t val_size) {
  return "seed " + std::to_string(o.seed) + (o.shuffle ? "" : " (no shuffle)") + ", batch " +
         std::to_string(o.batch_size) + ", " + std::to_string(train_size) + " training images, " +
         std::to_string(val_size) + " held out with seed " + std::to_string(o.validation_seed);
}

SafetensorsMetadata progress_metadata(const FitProgress& p, const std::string& signature) {
  char best[40];
  std::snprintf(best, sizeof best, "%.17g", p.best_val_acc);
  return {{"fit.run", signature},
          {"fit.best_val_acc", best},
          {"fit.best_epoch", std::to_string(p.best_epoch)},
          {"fit.stale_epochs", std::to_string(p.stale_epochs)}};
}

// fit's progress from a checkpoint whose "fit.run" load_training_checkpoint matched.
FitProgress read_progress(const SafetensorsMetadata& meta, const std::string& path) {
  FitProgress p;
  try {
    p.best_val_acc = std::stod(meta.at("fit.best_val_acc"));
    p.best_epoch = std::stoul(meta.at("fit.best_epoch"));
    p.stale_epochs = std::stoul(meta.at("fit.stale_epochs"));
  } catch (const std::logic_error&) {  // out_of_range and invalid_argument
    throw Error("fit: cannot resume from '" + path +
                "': its fit.best_val_acc, fit.best_epoch or fit.stale_epochs is missing or not "
                "a number");
  }
  return p;
}

}  // namespace

std::vector<EpochRecord> fit(Layer& model, Optimizer& opt, const Dataset& all_train,
                             const Dataset& test, const FitOptions& o) {
  check_arg(!all_train.empty(), "fit", "the training set", "non-empty",
            all_train.name() + " is empty");
  check_arg(o.batch_size > 0, "fit", "batch_size", "> 0", "0");
  check_arg(o.eval_batch_size > 0, "fit", "eval_batch_size", "> 0", "0");
  check_arg(o.label_smoothing >= 0.0f && o.label_smoothing <= 1.0f, "fit", "label_smoothing",
            "in [0, 1]", format_float(o.label_smoothing));
  if (!test.empty() && test.num_classes() != all_train.num_classes())
    throw Error("fit: the test set has " + std::to_string(test.num_classes()) +
                " classes, the training set " + std::to_string(all_train.num_classes()));
  const std::size_t num_val = validation_size(all_train, o);
  if (o.patience > 0 && num_val == 0)
    throw Error("fit: patience " + std::to_string(o.patience) +
                " needs a validation split (validation_count or validation_fraction)");
  if (o.schedule && &o.schedule->optimizer() != &opt)
    throw Error("fit: the schedule wraps another optimiser than the one fit steps");

  // Made once: Sequential::parameters() builds its names anew on every call.
  const std::vector<Parameter> params = model.parameters();
  check_before_training(model, opt, params, all_train, test, o);
  std::optional<Split> split;
  if (num_val > 0) split = split_validation(all_train, num_val, o.validation_seed);
  const Dataset& train = split ? split->train : all_train;
  std::string best_path;  // "": the best model is not saved
  if (num_val > 0 && !o.best_path.empty()) best_path = o.best_path;
  if (num_val > 0 && o.best_path.empty() && !o.checkpoint_path.empty())
    best_path =
        (std::filesystem::path(o.checkpoint_path).parent_path() / "best.safetensors").string();
  const std::string signature = run_signature(o, train.size(), num_val);
  std::vector<NamedRng> generators{{"default", &default_rng()}};
  for (const NamedRng& g : o.generators) {
    const bool taken = std::any_of(generators.begin(), generators.end(),
                                   [&](const NamedRng& h) { return h.name == g.name; });
    if (taken || g.name.empty() || g.rng == nullptr)
      throw Error("fit: generator '" + g.name +
                  "' needs a name of its own (\"default\" is default_rng()'s) and an Rng");
    generators.push_back(g);
  }

  std::size_t first_epoch = 1;
  FitProgress progress;
  std::size_t saved_epoch = 0;  // the epoch the checkpoint file holds; 0: none yet
  if (!o.resume_from.empty()) {
    const ResumePoint point =
        load_training_checkpoint(model, opt, o.schedule, generators, o.resume_from,
                                 {{"fit.run", signature}});
    progress = read_progress(point.metadata, o.resume_from);
    first_epoch = point.epoch + 1;
    // The checkpoint was saved before the epoch's step of a per-epoch schedule; take it.
    if (o.schedule && o.schedule->every() == StepEvery::Epoch) o.schedule->step();
    namespace fs = std::filesystem;
    if (!o.checkpoint_path.empty() &&
        fs::weakly_canonical(o.resume_from) == fs::weakly_canonical(o.checkpoint_path))
      saved_epoch = point.epoch;
  }

  std::optional<MetricsCsv> csv;
  // A bad path fails now; a resumed run keeps the rows of the epochs it resumes after.
  if (!o.metrics_path.empty()) csv.emplace(o.metrics_path, first_epoch - 1);
  BatchLoader batches(train, o.batch_size,
                      {.shuffle = o.shuffle,
                       .seed = o.seed,
                       .norm = o.norm,
                       .augment = o.augment,
                       .augment_seed = o.seed,
                       .prefetch = o.prefetch});
  batches.skip_epochs(first_epoch - 1);  // the resumed run's shuffles and epochs
  const std::size_t num_batches = batches.num_batches();
  const bool per_batch = o.schedule && o.schedule->every() == StepEvery::Batch;
  ModeGuard train_mode(model, true);

  std::vector<EpochRecord> history;
  // "fit: <what> at epoch E, batch B of NB; training stopped, the checkpoint ... keeps
  // epoch E-1". Built only on failure: the batch loop allocates no strings.
  const auto fail = [&](const std::string& what, std::size_t epoch, const std::string& where) {
    std::string kept = "no checkpoint was written";
    if (saved_epoch > 0)
      kept =
          "the checkpoint '" + o.checkpoint_path + "' keeps epoch " + std::to_string(saved_epoch);
    else if (!o.checkpoint_path.empty())
      kept = "no checkpoint was written to '" + o.checkpoint_path + "'";
    throw Error("fit: " + what + " at epoch " + std::to_string(epoch) + ", " + where +
                "; training stopped, " + kept);
  };
  const auto at_batch = [&] {
    return "batch " + std::to_string(batches.batch_index() + 1) + " of " +
           std::to_string(num_batches);
  };
  const auto training_state = [&](std::size_t epoch, bool resumable) {
    return TrainingState{.optimizer = &opt,
                         .schedule = o.schedule,
                         .epoch = epoch,
                         .epochs = o.epochs,
                         .resumable = resumable,
                         .generators = resumable ? generators : std::vector<NamedRng>{}};
  };
  const Shape input_shape{1, train.channels(), train.height(), train.width()};

  const bool stopped_already = o.patience > 0 && progress.stale_epochs >= o.patience;
  for (std::size_t epoch = first_epoch; epoch <= o.epochs && !stopped_already; ++epoch) {
    const auto t0 = std::chrono::steady_clock::now();
    std::optional<ProgressBar> bar;
    if (o.progress)
      bar.emplace(num_batches, ProgressOptions{.label = "epoch " + std::to_string(epoch) + "/" +
                                                        std::to_string(o.epochs),
                                               .out = o.progress_out});
    double loss_sum = 0.0;
    std::size_t seen = 0, correct = 0;
    const double wait_before = batches.wait_seconds();
    while (batches.next()) {
      const Tensor& x = batches.x();
      const Labels& y = batches.y();
      const Tensor logits = model.forward(x);
      const LossResult l = softmax_cross_entropy(logits, y, o.label_smoothing);
      if (!std::isfinite(l.loss)) {
        char v[32];
        std::snprintf(v, sizeof v, "%g", double(l.loss));
        fail(std::string("non-finite loss (") + v + ")", epoch, at_batch());
      }
      correct += count_correct(logits, y);
      opt.zero_grad();
      model.backward(l.grad);
      if (const Parameter* p = first_non_finite(params, /*grads=*/true))
        fail("non-finite gradient of '" + p->name + "'", epoch, at_batch());
      opt.step();
      if (per_batch) o.schedule->step();
      loss_sum += double(l.loss) * double(y.size());
      seen += y.size();
      if (bar) bar->step(y.size(), l.loss);
    }
    const double train_seconds = seconds_since(t0);
    if (const Parameter* p = first_non_finite(params, /*grads=*/false))
      fail("non-finite value of parameter '" + p->name + "'", epoch, "after its last batch");

    EpochRecord r;
    r.epoch = epoch;
    r.train_loss = loss_sum / double(seen);
    r.train_acc = double(correct) / double(seen);
    if (split) {
      const Evaluation v = evaluate(model, split->validation, o.eval_batch_size, o.norm);
      r.val_loss = v.loss;
      r.val_acc = v.accuracy;
    }
    r.test_acc =
        test.empty() ? std::nan("") : evaluate(model, test, o.eval_batch_size, o.norm).accuracy;
    r.seconds = seconds_since(t0);
    r.data_wait_seconds = batches.wait_seconds() - wait_before;
    if (bar) {
      std::string extra = "train acc " + percent(r.train_acc);
      if (split) {
        char v[32];
        std::snprintf(v, sizeof v, "%.4f", r.val_loss);
        extra += std::string("  val loss ") + v + "  val acc " + percent(r.val_acc);
      }
      if (!test.empty()) extra += "  test acc " + percent(r.test_acc);
      extra +=
          "  data wait " + percent(train_seconds > 0 ? r.data_wait_seconds / train_seconds : 0);
      bar->finish(extra);
    }
    history.push_back(r);
    if (csv) csv->add(r);
    bool improved = false;
    if (split) {
      improved = r.val_acc > progress.best_val_acc;
      if (improved) {
        progress = {.best_val_acc = r.val_acc, .best_epoch = epoch, .stale_epochs = 0};
      } else {
        ++progress.stale_epochs;
      }
    }
    if (improved && !best_path.empty())
      save_safetensors(model, best_path,
                       {.input_shape = input_shape, .training = training_state(epoch, false)});
    if (!o.checkpoint_path.empty()) {
      save_safetensors(model, o.checkpoint_path,
                       {.input_shape = input_shape,
                        .training = training_state(epoch, true),
                        .metadata = progress_metadata(progress, signature)});
      saved_epoch = epoch;
    }
    if (o.schedule && !per_batch) o.schedule->step();
    if (o.on_epoch) o.on_epoch(r);
    if (o.patience > 0 && progress.stale_epochs >= o.patience) {
      if (o.progress) {
        std::ostream& out = o.progress_out ? *o.progress_out : std::cerr;
        out << "early stop: validation accuracy has not risen for " << o.patience
            << (o.patience == 1 ? " epoch" : " epochs") << "; the best, "
            << percent(progress.best_val_acc) << ", was epoch " << progress.best_epoch << '\n';
      }
      break;
    }
  }
  return history;
}

}  // namespace minicnn
