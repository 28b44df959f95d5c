// Writes the checkpoints kept under tests/data/checkpoints/ with this version of minicnn:
//
//   build/tests/minicnn_make_checkpoints tests/data/checkpoints
//
// For each model of tests/checkpoint_models.hpp: <name>.safetensors, its weights after a
// few training steps (so that BatchNorm's running statistics and num_batches_tracked are
// not their initial values), and <name>.expected.safetensors, an input "x" and the
// model's eval-mode output "y" for it. Run it only to add a model: the files kept are
// what an older version wrote, and test_checkpoint_files.cpp checks that they still load
// and give "y".
#include <minicnn/core/random.hpp>
#include <minicnn/io/safetensors.hpp>
#include <minicnn/train/checkpoint.hpp>

#include <cstdint>
#include <exception>
#include <iostream>
#include <string>

#include "../checkpoint_models.hpp"

using namespace minicnn;

namespace {

constexpr std::uint64_t kSeed = 2024;
constexpr int kTrainingSteps = 3;

Tensor uniform(const Shape& s, Rng& rng) {
  Tensor t = zeros(s);
  fill_uniform(t, -1.0f, 1.0f, rng);
  return t;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: " << argv[0] << " <folder>\n";
    return 2;
  }
  const std::string dir = argv[1];
  try {
    for (const testing::CheckpointModel& m : testing::checkpoint_models()) {
      manual_seed(kSeed);
      Rng rng(kSeed);
      Sequential net = m.make();
      // Forward passes in training mode stand in for training: they move what a
      // checkpoint must carry beyond the weights.
      net.set_training(true);
      for (int step = 0; step < kTrainingSteps; ++step) net.forward(uniform(m.input_shape, rng));
      if (m.name == "conv_batchnorm") {
        // A count no float holds, as a long run reaches.
        static_cast<BatchNorm2D&>(net[1]).num_batches_tracked() = (std::int64_t{1} << 33) + 3;
      }
      net.set_training(false);
      const Tensor x = uniform(m.input_shape, rng);
      const Tensor y = net.forward(x);
      save_safetensors(net, dir + "/" + m.name + ".safetensors", {.input_shape = m.input_shape});
      save_safetensors({{"x", &x}, {"y", &y}}, dir + "/" + m.name + ".expected.safetensors");
      std::cout << "wrote " << dir << "/" << m.name << ".safetensors\n";
    }
  } catch (const std::exception& e) {
    std::cerr << e.what() << '\n';
    return 1;
  }
  return 0;
}
