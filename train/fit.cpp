#include "fit.hpp"

#include <unistd.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <optional>

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

// True when no value of p[0, n) is NaN or ±inf: those are exactly the floats whose
// exponent bits are all ones. An integer max over the masked bits vectorises, unlike
// a chain of isfinite branches, so checking every gradient each batch stays cheap.
bool all_finite(const float* p, std::size_t n) {
  constexpr std::uint32_t kExponent = 0x7f800000u;
  std::uint32_t top = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint32_t e = std::bit_cast<std::uint32_t>(p[i]) & kExponent;
    top = e > top ? e : top;
  }
  return top != kExponent;
}

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
  Evaluation result{.confusion = ConfusionMatrix(data.num_classes() ? data.num_classes() : 1)};
  if (data.empty()) return result;
  ModeGuard eval_mode(model, false);
  BatchIterator batches(data, batch_size, /*shuffle=*/false, /*seed=*/0, {.norm = norm});
  double loss_sum = 0.0;
  while (batches.next()) {
    const Tensor logits = model.forward(batches.x());
    check_shape(shape_of(logits), {batches.y().size(), data.num_classes()}, "evaluate",
                "the model's output (logits)");
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

}  // namespace

std::vector<EpochRecord> fit(Layer& model, Optimizer& opt, const Dataset& train,
                             const Dataset& test, const FitOptions& o) {
  check_arg(!train.empty(), "fit", "the training set", "non-empty", train.name() + " is empty");
  check_arg(o.batch_size > 0, "fit", "batch_size", "> 0", "0");
  check_arg(o.eval_batch_size > 0, "fit", "eval_batch_size", "> 0", "0");
  if (!test.empty() && test.num_classes() != train.num_classes())
    throw Error("fit: the test set has " + std::to_string(test.num_classes()) +
                " classes, the training set " + std::to_string(train.num_classes()));

  // Made once: Sequential::parameters() builds its names anew on every call.
  const std::vector<Parameter> params = model.parameters();
  check_before_training(model, opt, params, train, test, o);
  std::optional<MetricsCsv> csv;
  if (!o.metrics_path.empty()) csv.emplace(o.metrics_path);  // a bad path fails now
  BatchLoader batches(train, o.batch_size,
                      {.shuffle = o.shuffle,
                       .seed = o.seed,
                       .norm = o.norm,
                       .augment = o.augment,
                       .augment_seed = o.seed,
                       .prefetch = o.prefetch});
  const std::size_t num_batches = batches.num_batches();
  ModeGuard train_mode(model, true);

  std::vector<EpochRecord> history;
  std::size_t saved_epoch = 0;  // the epoch the checkpoint file holds; 0: none yet
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

  for (std::size_t epoch = 1; epoch <= o.epochs; ++epoch) {
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
      const LossResult l = softmax_cross_entropy(logits, y);
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
    r.test_acc =
        test.empty() ? std::nan("") : evaluate(model, test, o.eval_batch_size, o.norm).accuracy;
    r.seconds = seconds_since(t0);
    r.data_wait_seconds = batches.wait_seconds() - wait_before;
    if (bar) {
      std::string extra = "train acc " + percent(r.train_acc);
      if (!test.empty()) extra += "  test acc " + percent(r.test_acc);
      extra +=
          "  data wait " + percent(train_seconds > 0 ? r.data_wait_seconds / train_seconds : 0);
      bar->finish(extra);
    }
    history.push_back(r);
    if (csv) csv->add(r);
    if (!o.checkpoint_path.empty()) {
      save_safetensors(model, o.checkpoint_path,
                       {.input_shape = {1, train.channels(), train.height(), train.width()},
                        .training = TrainingState{.optimizer = &opt,
                                                  .schedule = o.schedule,
                                                  .epoch = epoch,
                                                  .epochs = o.epochs}});
      saved_epoch = epoch;
    }
    if (o.schedule) o.schedule->step();
    if (o.on_epoch) o.on_epoch(r);
  }
  return history;
}

}  // namespace minicnn
