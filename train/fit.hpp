// fit and evaluate: the training loop of a classifier over MNIST-like datasets.
//
//   auto [train, test] = load_mnist("data/mnist");
//   SGD opt(net.parameters(), {.lr = 0.02f, .momentum = 0.9f});
//   std::vector<EpochRecord> history = fit(net, opt, train, test,
//       {.epochs = 12, .batch_size = 64, .checkpoint_path = "out/lenet.safetensors"});
//   Evaluation e = evaluate(net, test);
//   Evaluation m = evaluate(net, test, {.batch_size = 64, .flip = true});  // with mirrors
//   std::cout << e.confusion.table();
//
// Each epoch of fit shuffles the training set (seeded: the same seed, the same order),
// and for every batch of floats (made from the dataset's bytes, augmented if asked, by a
// BatchLoader: data/prefetch.hpp, a few batches ahead on a background thread) runs
// forward, softmax_cross_entropy on the logits (with FitOptions::label_smoothing),
// opt.zero_grad(), backward and opt.step(), then steps a per-batch schedule
// (StepEvery::Batch). Meanwhile a ProgressBar on stderr shows the epoch's running loss and
// images/s. At the end of an epoch it evaluates the validation and the test sets, prints
//   epoch 3/12 938/938  9699 img/s  loss 0.0259  6.2 s  train acc 99.17%  val loss 0.0412
//   val acc 98.80%  test acc 99.11%  data wait 0.04%
// (one line; its time and images/s include the evaluations; data wait is the share of
// the training steps' time spent waiting for a batch), and then, in this order: appends
// the epoch to the metrics CSV (MetricsCsv), saves the best model when validation
// accuracy rose, saves the checkpoint (replaced through a temporary and a rename, its
// metadata naming the epoch, the optimiser and the lr the epoch trained with:
// train/checkpoint.hpp), steps a per-epoch schedule and calls on_epoch.
//
// Validation: validation_count images (or, when that is 0, validation_fraction of them,
// rounded) are drawn from the training set with validation_seed and held out: they never
// train, and after each epoch they give val_loss (plain cross-entropy, unsmoothed) and
// val_acc. The rest train, in their original order before shuffling. With a validation
// set, the model of the best val_acc so far is saved to best_path ("": best.safetensors
// in the checkpoint's folder; no checkpoint_path and no best_path: not saved), and
// with patience > 0 training stops once patience epochs in a row have not raised it.
// Validation never looks at the test set; patience needs a validation set.
//
// Resume: the checkpoint is resumable. It holds, besides the weights, the optimiser's
// state and lr, the schedule's steps, the epoch, default_rng()'s state (Dropout draws
// from it) and that of FitOptions::generators, and fit's own: the seed, the split, the
// best validation accuracy and the epochs without improvement. fit with resume_from set
// loads all of it (load_training_checkpoint; every misfit is an Error naming the file),
// takes the per-epoch schedule's step that followed the save, and trains epochs
// resumed+1 .. epochs, so that a run stopped after any epoch and resumed
// ends with the weights of one never stopped, bit for bit (same thread count). The
// shuffle is not stored: its order is a function of the seed and the epochs before, and
// is replayed. The returned history and the progress lines hold the epochs this call
// trained; the metrics CSV keeps the rows of epochs 1 .. resumed that the file at
// metrics_path holds and adds this call's after them.
//
// EpochRecord per epoch: train_loss and train_acc are the running mean loss and accuracy
// over the epoch's batches (each computed before that batch's step), val_loss and
// val_acc are measured after the epoch on the validation set (NaN without one), test_acc
// on the test set (NaN when it is empty), seconds is the epoch's wall time, training and
// evaluation together, data_wait_seconds the part of it spent waiting for training
// batches.
//
// Divergence: a loss or a parameter gradient that is not finite (NaN or ±inf) stops
// training at once, before the optimiser applies it, with an Error naming the epoch, the
// batch and what the checkpoint holds:
//   fit: non-finite loss (nan) at epoch 2, batch 17 of 938; training stopped, the
//   checkpoint 'out/lenet/lenet.safetensors' keeps epoch 1
// ("non-finite gradient of '7.weight'" names the parameter). Parameters that became
// non-finite by an epoch's last step stop it before the checkpoint is saved. Either way
// the checkpoint file keeps the last good epoch (or does not exist if there was none),
// and the metrics CSV holds the good epochs only.
//
// Modes: fit puts the model in training mode and evaluate in eval mode
// (set_training(false), so that Dropout passes through and BatchNorm uses its running
// statistics); each puts back the mode the model had when it was called, also when it
// throws. The model must map (N, C, H, W) images to logits (N, num_classes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "../data/mnist.hpp"
#include "metrics.hpp"
#include "optimizer.hpp"
#include "progress.hpp"
#include "schedule.hpp"
#include "../layers/layer.hpp"

namespace minicnn {

class Transform;  // data/augment.hpp

struct FitOptions {
  std::size_t epochs = 10;
  std::size_t batch_size = 64;
  std::size_t eval_batch_size = 256;  // for the test set; no gradients, so larger is cheap
  Normalization norm = Normalization::mnist();  // bytes to floats, for training and test
  std::uint64_t seed = 1;                       // the shuffle of the training set
  bool shuffle = true;
  // Applied to every training image's bytes, with draws from (seed, epoch, image index);
  // null: none. The test set is never augmented.
  std::shared_ptr<const Transform> augment = nullptr;
  std::size_t prefetch = 2;  // training batches made ahead on a background thread, 0: none
  LRScheduler* schedule = nullptr;  // stepped per epoch or per batch (its every()); must wrap opt
  std::string checkpoint_path = {};      // "": no checkpoint
  std::string metrics_path = {};         // "": no CSV
  bool progress = true;                  // the bar and the per-epoch line
  std::ostream* progress_out = nullptr;  // nullptr: std::cerr
  std::function<void(const EpochRecord&)> on_epoch = {};  // after each good epoch

  float label_smoothing = 0.0f;        // of the training loss, in [0, 1]
  std::size_t validation_count = 0;    // images held out for validation; 0: by fraction
  double validation_fraction = 0.0;    // of the training set, in [0, 1); 0 and count 0: none
  std::uint64_t validation_seed = 1;   // which images are held out
  std::string best_path = {};          // "": best.safetensors beside the checkpoint
  std::size_t patience = 0;            // epochs without a better val_acc before stopping; 0: never
  std::string resume_from = {};        // a checkpoint fit saved: go on from its epoch
  std::vector<NamedRng> generators = {};  // more generators to resume; names unique, not "default"
};

// Trains model with opt for options.epochs epochs (from the resumed epoch on) and returns
// one record per epoch trained. Throws Error for an empty training set, a batch size of 0,
// a validation split that leaves no image on one side, patience without validation, a
// checkpoint to resume from that does not fit, or a non-finite loss or gradient (see
// above); errors of the model, the CSV or the checkpoint pass through.
std::vector<EpochRecord> fit(Layer& model, Optimizer& opt, const Dataset& train,
                             const Dataset& test, const FitOptions& options = {});

struct Evaluation {
  double loss = 0.0;             // mean softmax cross-entropy over the dataset
  double accuracy = 0.0;         // in [0, 1]; 0 for an empty dataset
  ConfusionMatrix confusion{1};  // num_classes × num_classes, row = true label
};

struct EvalOptions {
  std::size_t batch_size = 256;
  Normalization norm = Normalization::mnist();  // the normalisation the model was trained with
  // Test-time augmentation: each image is also run mirrored left to right, and the two
  // softmax outputs are averaged; the loss and the confusion matrix are those of the
  // average (its logarithm stands for the logits). Twice the work. For models trained
  // with RandomHorizontalFlip, on images whose mirror is as likely as they are.
  bool flip = false;
};

// Runs model over data in eval mode, batch_size images at a time (with options.flip,
// each batch and its mirror), and restores the model's mode afterwards. norm must be the
// normalisation the model was trained with. Throws Error for a batch size of 0.
Evaluation evaluate(Layer& model, const Dataset& data, std::size_t batch_size = 256,
                    Normalization norm = Normalization::mnist());
Evaluation evaluate(Layer& model, const Dataset& data, const EvalOptions& options);

}  // namespace minicnn
