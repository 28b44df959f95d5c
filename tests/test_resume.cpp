// Resumable training: a run stopped after an epoch and resumed from its checkpoint ends
// where the uninterrupted run ends, bit for bit; a checkpoint that does not fit the run
// is an Error naming the file and the misfit.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <minicnn/minicnn.hpp>
#include <stdexcept>
#include <sstream>
#include <string>
#include <vector>

#include "test_util.hpp"

using namespace minicnn;
using namespace minicnn::testing;

namespace {

// Quadrants close enough that training takes some epochs.
Dataset resume_quadrants(std::size_t n, std::uint64_t seed = 3) {
  return quadrants(n, seed, /*bright=*/100, /*dark=*/60, /*spread=*/90);
}

// Every kind of state a resume must restore: conv and dense weights, BatchNorm's running
// statistics and count, and a Dropout that draws from default_rng() (or from rng).
// side×side images; 4 classes, or 10 for MNIST.
Sequential resumable_net(Rng* rng = nullptr, std::size_t side = 8, std::size_t classes = 4) {
  const std::size_t pooled = (side - 2) / 2;
  Sequential net;
  net.add<Conv2D>(1, 4, 3);
  net.add<BatchNorm2D>(4);
  net.add<ReLU>();
  net.add<MaxPool2D>(2);
  net.add<Flatten>();
  if (rng)
    net.add<Dropout>(0.3f, *rng);
  else
    net.add<Dropout>(0.3f);
  net.add<Dense>(4 * pooled * pooled, classes);
  return net;
}

// Parameters and buffers, in order.
std::vector<Tensor> state_of(Layer& model) {
  std::vector<Tensor> v;
  for (const Parameter& p : model.parameters()) v.push_back(*p.value);
  for (const Parameter& b : model.buffers())
    v.push_back(b.int64 ? Tensor{float(*b.int64)} : *b.value);
  return v;
}

void expect_same_bits(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) EXPECT_TRUE(same_bits(a[i], b[i])) << "tensor " << i;
}

// What on_epoch throws to stop a run as a kill would, after its checkpoint is written.
struct Killed : std::runtime_error {
  Killed() : std::runtime_error("killed") {}
};

constexpr std::size_t kEpochs = 3, kBatch = 16, kTrain = 240;

// One run of a training recipe: made from scratch (seeded), it trains to `epochs` from
// `resume_from` (or from the start), and `kill_after` > 0 stops it after that epoch.
struct Recipe {
  std::function<std::unique_ptr<Optimizer>(Sequential&)> optimizer;
  std::function<std::unique_ptr<LRScheduler>(Optimizer&)> schedule;
  FitOptions options;
  bool own_rng = false;  // the Dropout draws from a generator of its own
  std::size_t side = 8, classes = 4;

  std::vector<Tensor> run(const std::string& checkpoint, std::size_t kill_after,
                          const std::string& resume_from, const Dataset& train,
                          std::vector<EpochRecord>* history = nullptr) const {
    manual_seed(21);
    Rng dropout_rng(77);
    Sequential net = resumable_net(own_rng ? &dropout_rng : nullptr, side, classes);
    std::unique_ptr<Optimizer> opt = optimizer(net);
    std::unique_ptr<LRScheduler> sched = schedule ? schedule(*opt) : nullptr;
    FitOptions o = options;
    o.epochs = kEpochs;
    o.batch_size = kBatch;
    o.schedule = sched.get();
    o.checkpoint_path = checkpoint;
    o.metrics_path = checkpoint + ".csv";
    o.resume_from = resume_from;
    o.progress = false;
    if (own_rng) o.generators = {{"dropout", &dropout_rng}};
    if (kill_after > 0)
      o.on_epoch = [&](const EpochRecord& r) {
        if (r.epoch == kill_after) throw Killed();
      };
    try {
      std::vector<EpochRecord> h = fit(net, *opt, train, Dataset(), o);
      if (history) *history = std::move(h);
    } catch (const Killed&) {
    }
    return state_of(net);
  }
};

// A metrics CSV without its last two columns (the seconds, which differ run to run).
std::string without_times(const std::string& csv) {
  std::string out, line;
  std::istringstream in(csv);
  while (std::getline(in, line)) {
    for (int cut = 0; cut < 2; ++cut) line.erase(line.rfind(','));
    out += line + '\n';
  }
  return out;
}

// The uninterrupted run against runs killed after each earlier epoch and resumed.
void expect_resume_matches(const Recipe& recipe, const Dataset& train = resume_quadrants(kTrain)) {
  const TempDir tmp;
  const std::string whole = tmp.string() + "/whole.safetensors";
  std::vector<EpochRecord> whole_history;
  const std::vector<Tensor> want = recipe.run(whole, 0, "", train, &whole_history);
  ASSERT_EQ(whole_history.size(), kEpochs);
  for (std::size_t kill = 1; kill < kEpochs; ++kill) {
    SCOPED_TRACE("killed after epoch " + std::to_string(kill));
    const std::string ckpt = tmp.string() + "/run" + std::to_string(kill) + ".safetensors";
    const std::vector<Tensor> at_kill = recipe.run(ckpt, kill, "", train);
    // Another process would start with another default_rng() state: disturb it.
    default_rng().next();
    std::vector<EpochRecord> rest;
    const std::vector<Tensor> got = recipe.run(ckpt, 0, ckpt, train, &rest);
    ASSERT_EQ(rest.size(), kEpochs - kill);
    EXPECT_EQ(rest.front().epoch, kill + 1);
    for (std::size_t i = 0; i < rest.size(); ++i) {
      const EpochRecord& a = rest[i];
      const EpochRecord& b = whole_history[kill + i];
      EXPECT_EQ(std::memcmp(&a.train_loss, &b.train_loss, sizeof(double)), 0)
          << "epoch " << a.epoch;
      EXPECT_EQ(a.train_acc, b.train_acc);
      if (!std::isnan(b.val_acc)) {
        EXPECT_EQ(a.val_acc, b.val_acc);
      }
    }
    expect_same_bits(got, want);
    // The resumed run's metrics CSV has every epoch's row, as the whole run's has.
    EXPECT_EQ(without_times(read_bytes(ckpt + ".csv")), without_times(read_bytes(whole + ".csv")));
    // and the run had moved on since the kill: the comparison is not of untrained weights
    EXPECT_FALSE(same_bits(at_kill.front(), want.front()));
  }
}

}  // namespace

TEST(Resume, SgdNesterovOneCycleDropoutAndValidationEndBitForBit) {
  Recipe r;
  r.optimizer = [](Sequential& net) {
    return std::make_unique<SGD>(net.parameters(), SGDOptions{.lr = 0.05f,
                                                              .momentum = 0.9f,
                                                              .nesterov = true,
                                                              .weight_decay = 1e-4f});
  };
  const std::size_t batches = (kTrain - 40 + kBatch - 1) / kBatch;
  r.schedule = [&](Optimizer& opt) {
    return std::make_unique<OneCycleLR>(
        opt, OneCycleOptions{.max_lr = 0.1f, .total_steps = kEpochs * batches});
  };
  r.options = {.label_smoothing = 0.1f, .validation_count = 40, .patience = 5};
  expect_resume_matches(r);
}

TEST(Resume, AdamWPerEpochWarmupAndAGeneratorOfTheModelsOwnEndBitForBit) {
  Recipe r;
  r.optimizer = [](Sequential& net) {
    return std::make_unique<Adam>(
        net.parameters(), AdamOptions{.lr = 3e-3f, .weight_decay = 1e-2f, .decoupled = true});
  };
  r.schedule = [](Optimizer& opt) {
    return std::make_unique<WarmupCosineLR>(
        opt, WarmupCosineOptions{.warmup = 1, .total = kEpochs, .every = StepEvery::Epoch});
  };
  r.own_rng = true;
  expect_resume_matches(r);
}

TEST(Resume, MnistSubsetKilledAfterEachEpochEndsBitForBit) {
  const std::string dir = std::string(MINICNN_SOURCE_DIR) + "/data/mnist";
  if (!std::filesystem::exists(dir + "/train-images-idx3-ubyte") &&
      !std::filesystem::exists(dir + "/train-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "MNIST is missing in " << dir << " (scripts/fetch-data.sh)";
  const Dataset train = load_mnist(dir).train.subset(0, kTrain);
  Recipe r;
  r.optimizer = [](Sequential& net) {
    return std::make_unique<SGD>(net.parameters(),
                                 SGDOptions{.lr = 0.02f, .momentum = 0.9f, .weight_decay = 5e-4f});
  };
  r.schedule = [](Optimizer& opt) { return std::make_unique<CosineLR>(opt, kEpochs); };
  r.options = {.validation_count = 40};
  r.side = 28;
  r.classes = 10;
  expect_resume_matches(r, train);
}

TEST(Resume, AGeneratorTheCheckpointKeepsMustBeGivenAgain) {
  // Resuming without the Dropout's own generator would draw other masks: an Error, not
  // a run that quietly differs.
  const Dataset train = resume_quadrants(kTrain);
  const TempDir tmp;
  Recipe r;
  r.optimizer = [](Sequential& net) {
    return std::make_unique<SGD>(net.parameters(), SGDOptions{.lr = 0.05f, .momentum = 0.9f});
  };
  r.own_rng = true;
  const std::string ckpt = tmp.string() + "/b.safetensors";
  r.run(ckpt, 1, "", train);
  manual_seed(21);
  Rng dropout_rng(77);
  Sequential net = resumable_net(&dropout_rng);
  SGD opt(net.parameters(), {.lr = 0.05f, .momentum = 0.9f});
  expect_error_naming(
      [&] {
        fit(net, opt, train, Dataset(),
            {.epochs = kEpochs, .batch_size = kBatch, .progress = false, .resume_from = ckpt});
      },
      {"resume", ckpt, "unexpected training state '__training__.rng.dropout'"});
}

TEST(Resume, ATrainingCheckpointLoadsAsAPlainModelCheckpoint) {
  const Dataset train = resume_quadrants(64);
  const TempDir tmp;
  const std::string ckpt = tmp.string() + "/net.safetensors";
  manual_seed(3);
  Sequential net = resumable_net();
  SGD opt(net.parameters(), {.lr = 0.05f, .momentum = 0.9f});
  StepLR sched(opt, 1, 0.5f);
  fit(net, opt, train, Dataset(),
      {.epochs = 2, .batch_size = 16, .schedule = &sched, .checkpoint_path = ckpt,
       .progress = false});

  SafetensorsMetadata meta;
  const auto file = read_safetensors(ckpt, &meta);
  EXPECT_EQ(file.at("__training__.epoch").ints, (std::vector<std::int64_t>{2}));
  EXPECT_EQ(file.at("__training__.optimizer.steps").ints, (std::vector<std::int64_t>{8}));
  // Saved before the schedule's step at the end of epoch 2: the lr epoch 2 trained with.
  EXPECT_EQ(file.at("__training__.schedule.steps").ints, (std::vector<std::int64_t>{1}));
  EXPECT_FLOAT_EQ(file.at("__training__.optimizer.lr").values(0), 0.025f);  // 0.05 · 0.5
  EXPECT_EQ(file.at("__training__.optimizer.momentum_buffer.6.weight").shape, (Shape{4, 36}));
  EXPECT_TRUE(file.contains("__training__.rng.default"));
  EXPECT_EQ(meta.at("minicnn.optimizer.kind"), "SGD");
  EXPECT_EQ(meta.at("minicnn.schedule.kind"), "StepLR");

  Sequential plain = resumable_net();
  const LoadReport report = load_safetensors(plain, ckpt);  // strict: nothing unexpected
  EXPECT_TRUE(report.fits()) << report.differences();
  expect_same_bits(state_of(plain), state_of(net));
}

TEST(Resume, BadResumesThrowNamingTheFileAndWhatDoesNotFit) {
  const Dataset train = resume_quadrants(64);
  const TempDir tmp;
  const std::string ckpt = tmp.string() + "/sgd.safetensors";
  manual_seed(3);
  {
    Sequential net = resumable_net();
    SGD opt(net.parameters(), {.lr = 0.05f, .momentum = 0.9f});
    fit(net, opt, train, Dataset(),
        {.epochs = 1, .batch_size = 16, .checkpoint_path = ckpt, .progress = false});
  }
  const auto resume = [&](Sequential& net, Optimizer& opt, LRScheduler* sched,
                          const std::string& from, FitOptions o = {}) {
    o.epochs = 2;
    o.batch_size = 16;
    o.schedule = sched;
    o.progress = false;
    o.resume_from = from;
    fit(net, opt, train, Dataset(), o);
  };

  // Another optimiser type.
  Sequential net = resumable_net();
  const std::vector<Tensor> before = state_of(net);
  Adam adam(net.parameters());
  expect_error_naming([&] { resume(net, adam, nullptr, ckpt); },
                      {"resume", ckpt, "the optimiser is Adam, the file's SGD",
                       "missing optimiser state '__training__.optimizer.exp_avg.0.weight'"});
  // The same type with other options: no momentum, so the file's buffers fit nothing.
  SGD plain_sgd(net.parameters(), {.lr = 0.05f});
  expect_error_naming([&] { resume(net, plain_sgd, nullptr, ckpt); },
                      {ckpt, "'__training__.optimizer.momentum_buffer.0.weight'", "momentum"});
  // A schedule the file does not have.
  SGD sgd(net.parameters(), {.lr = 0.05f, .momentum = 0.9f});
  StepLR sched(sgd, 1);
  expect_error_naming([&] { resume(net, sgd, &sched, ckpt); },
                      {ckpt, "the run has a schedule, the file none"});
  // Another model: the weights do not fit.
  Sequential wide;
  wide.add<Conv2D>(1, 5, 3);
  wide.add<BatchNorm2D>(5);
  wide.add<ReLU>();
  wide.add<MaxPool2D>(2);
  wide.add<Flatten>();
  wide.add<Dropout>(0.3f);
  wide.add<Dense>(45, 4);
  SGD wide_sgd(wide.parameters(), {.lr = 0.05f, .momentum = 0.9f});
  expect_error_naming(
      [&] { resume(wide, wide_sgd, nullptr, ckpt); },
      {"resume", ckpt, "optimiser state '__training__.optimizer.momentum_buffer.0.weight'",
       "(4, 1, 3, 3)", "expected (5, 1, 3, 3)"});
  // Another model with an optimiser that has no state: load_safetensors names what
  // does not fit.
  const std::string stateless = tmp.string() + "/plain_sgd.safetensors";
  {
    Sequential small = resumable_net();
    SGD small_sgd(small.parameters(), {.lr = 0.05f});
    fit(small, small_sgd, train, Dataset(),
        {.epochs = 1, .batch_size = 16, .checkpoint_path = stateless, .progress = false});
  }
  SGD wide_plain(wide.parameters(), {.lr = 0.05f});
  expect_error_naming([&] { resume(wide, wide_plain, nullptr, stateless); },
                      {"resume", stateless, "does not fit", "shape of '0.weight' is (4, 1, 3, 3)",
                       "expected (5, 1, 3, 3)"});
  // Another seed or split than the run it resumes.
  expect_error_naming([&] { resume(net, sgd, nullptr, ckpt, {.seed = 2}); },
                      {"resume", ckpt, "fit.run is 'seed 1", "this run's 'seed 2"});
  // A plain model checkpoint holds no training state.
  const std::string model_only = tmp.string() + "/model.safetensors";
  save_safetensors(net, model_only);
  expect_error_naming([&] { resume(net, sgd, nullptr, model_only); },
                      {"resume", model_only, "no training state"});
  // No such file.
  const std::string nowhere = tmp.string() + "/none.safetensors";
  expect_error_naming([&] { resume(net, sgd, nullptr, nowhere); }, {nowhere});
  // None of these changed the model.
  expect_same_bits(state_of(net), before);
}

TEST(Resume, AGeneratorStateOfTheWrongLengthIsAnError) {
  const Dataset train = resume_quadrants(64);
  const TempDir tmp;
  const std::string ckpt = tmp.string() + "/net.safetensors";
  manual_seed(3);
  Sequential net = resumable_net();
  SGD opt(net.parameters(), {.lr = 0.05f});
  fit(net, opt, train, Dataset(),
      {.epochs = 1, .batch_size = 16, .checkpoint_path = ckpt, .progress = false});
  // Rewrite the file with a truncated generator state.
  auto file = read_safetensors(ckpt);
  TensorRefs refs;
  std::vector<std::int64_t> short_state(5, 1);
  for (const auto& [name, t] : file) {
    if (name == "__training__.rng.default")
      refs.emplace_back(name, short_state.data(), Shape{5});
    else if (t.dtype == DType::I64)
      refs.emplace_back(name, t.ints.data(), t.shape);
    else
      refs.emplace_back(name, &t.values);
  }
  SafetensorsMetadata meta;
  read_safetensors(ckpt, &meta);
  save_safetensors(refs, ckpt, meta);
  expect_error_naming(
      [&] {
        fit(net, opt, train, Dataset(),
            {.epochs = 2, .batch_size = 16, .progress = false, .resume_from = ckpt});
      },
      {ckpt, "generator state '__training__.rng.default'", "5 numbers"});
}

TEST(Resume, ARunResumedAtItsLastEpochTrainsNothing) {
  const Dataset train = resume_quadrants(64);
  const TempDir tmp;
  const std::string ckpt = tmp.string() + "/net.safetensors";
  manual_seed(3);
  Sequential net = resumable_net();
  SGD opt(net.parameters(), {.lr = 0.05f});
  fit(net, opt, train, Dataset(),
      {.epochs = 2, .batch_size = 16, .checkpoint_path = ckpt, .progress = false});
  const std::vector<Tensor> done = state_of(net);
  Sequential again = resumable_net();
  SGD opt2(again.parameters(), {.lr = 0.05f});
  const auto h = fit(again, opt2, train, Dataset(),
                     {.epochs = 2, .batch_size = 16, .progress = false, .resume_from = ckpt});
  EXPECT_TRUE(h.empty());
  expect_same_bits(state_of(again), done);
  EXPECT_EQ(opt2.steps(), 8u);
}

TEST(Rng, StateRoundTripsAndRejectsWhatIsNotAState) {
  Rng a(5);
  a.next();
  const std::vector<std::uint64_t> s = a.state();
  Rng b(99);
  b.set_state(s);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(a.next(), b.next());
  Rng c(1);
  const std::uint64_t c_next = Rng(1).next();
  expect_error_naming([&] { c.set_state({1, 2, 3}); }, {"Rng::set_state", "3 numbers"});
  std::vector<std::uint64_t> longer = s;
  longer.push_back(7);
  EXPECT_THROW(c.set_state(longer), Error);
  EXPECT_EQ(c.next(), c_next);  // unchanged by the failures
}
