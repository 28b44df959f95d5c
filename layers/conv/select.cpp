#include "select.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <tuple>
#include <vector>

#include "../../core/blas.hpp"
#include "../../core/random.hpp"
#include "../../core/tensor.hpp"
#include "../../core/parallel.hpp"
#include "../../core/version.hpp"
#include "../../io/file.hpp"
#include "one_channel.hpp"
#include "pointwise.hpp"
#include "strided.hpp"
#include "winograd5.hpp"

namespace minicnn {
namespace {

// Costs on one core of the project's machine (x86-64 with AVX2 FMA), fitted to the
// single-thread CPU times of bench/bench_conv over its eight shapes; with T threads
// both algorithms split their work evenly, so the estimate is divided by T.
constexpr double kGemmRate = 95e9;         // FLOP/s of a large sgemm
constexpr double kGemmHalf = 12.0;         // a GEMM whose smallest dimension is this runs at half rate
constexpr double kUnfoldSeconds = 0.15e-9;  // per element im2col writes (stride 1)
constexpr double kUnfoldStrided = 0.40e-9;  // per element with stride > 1 (a gather)
constexpr double kPieceSeconds = 4e-9;     // per output row of each unfolded row
constexpr double kDirectRate = 1.2e9;      // FLOP/s of the reference loops (one thread)
constexpr double kDepthwiseRate = 6e9;     // FLOP/s of the depthwise loops (one thread)
// ... and of their "same" 3×3 planes (stride 1, padding 1), per pass (forward, backward-
// data, backward-weights) and thread: with one kernel per input plane, fitted to D1 of
// bench_conv (64 channels; 36, 34 and 31 GFLOP/s on one thread), and with several kernels
// per input plane, whose framed copies serve them all, fitted to R1 (one input channel,
// sixteen outputs of it; 59, 38 and 45 GFLOP/s a thread on two).
constexpr double kDepthwiseSameRate[] = {36e9, 34e9, 31e9};
constexpr double kDepthwiseSameManyRate[] = {59e9, 38e9, 45e9};
// Winograd, fitted to the single-thread CPU times of its three passes on the 3×3 shapes of
// bench_conv (S3, S5, R1-R4) and six more (3 to 256 channels, 7² to 224² planes), three
// runs: median error 19%, largest 49%. (Separate input and output transform costs fit
// no better: on most shapes C and K grow together.)
constexpr double kWinoGemmRate = 60e9;          // FLOP/s of the α² small per-point GEMMs
constexpr double kWinoTransformSeconds = 0.087e-9;  // per tile, point and channel in or out
// F(4×4, 5×5)'s forward and backward-data products (see winograd_seconds): the rate of a
// GEMM of full lanes and infinite depth, and the depth at which it runs at half of it.
constexpr double kWino5GemmRate = 121e9;
constexpr double kWino5GemmDepth = 26.0;
// A Winograd call's own fixed cost (the plan, the kernel transform's set-up, a block map):
// on S5, one 100×100 plane, its passes took 19-23 µs where the terms above give 7.
constexpr double kWinoCallSeconds = 5e-6;
// im2col's one-input-channel path (one_channel.hpp), per 16-column block of an output row
// and tap, its copies and stores included, per pass, fitted to R1 on two threads (0.096,
// 0.22 and 0.225 ms): forward blocks four output channels in registers and is the cheapest.
constexpr double kOneChannelTapSeconds[] = {0.36e-9, 0.8e-9, 0.66e-9};
// im2col's strided path (strided.hpp), FLOP/s a thread per pass, its copies and
// transpositions included: R5 of bench_conv on two threads (0.66, 0.74 and 0.64 ms).
constexpr double kStridedRate[] = {88e9, 78e9, 91e9};

double gemm_seconds(double flops, double m, double n, double k) {
  const double small = std::min({m, n, k});
  return flops / (kGemmRate * small / (small + kGemmHalf));
}

// (With groups, each GEMM is one group's: K/G rows, (C/G)·KH·KW columns of W.)
double im2col_seconds(const ConvGeom& g, ConvPass pass, int threads) {
  if (pointwise_eligible(g, pass, threads, SIZE_MAX)) {
    // The pointwise path (pointwise.hpp), which im2col takes before the one-channel one:
    // GEMMs of one image's columns, nothing unfolded or staged; with a stride, x gathered
    // (or backward-data's product spread into dx).
    const double C = double(g.C), K = double(g.K), P = double(g.out_plane());
    double gemm = 0;
    switch (pass) {
      case ConvPass::Forward: gemm = gemm_seconds(g.flops(), K, P, C); break;
      case ConvPass::BackwardData: gemm = gemm_seconds(g.flops(), C, P, K); break;
      case ConvPass::BackwardWeights: gemm = gemm_seconds(g.flops(), K, C, P); break;
    }
    const double gathered = g.stride == 1 ? 0.0 : C * double(g.N) * P * kUnfoldStrided;
    return (gemm + gathered) / threads;
  }
  if (one_channel_eligible(g, pass, threads, SIZE_MAX)) {
    // Every output row (an input row, in backward-data) of every image and channel in
    // blocks of 16 columns, each block one pass over the taps; the planes copied once.
    const bool data = pass == ConvPass::BackwardData;
    const double rows = double(data ? g.H : g.OH), cols = double(data ? g.W : g.OW);
    const double blocks = double(g.N) * double(g.K) * rows *
                          std::ceil(cols / double(kOneChannelBlock));
    const double copied =
        double(g.N) * (double(g.in_plane()) +
                       (pass == ConvPass::Forward ? 0.0 : double(g.K) * double(g.out_plane())));
    const double tap = kOneChannelTapSeconds[static_cast<int>(pass)];
    return (blocks * double(g.KH * g.KW) * tap + copied * kUnfoldSeconds) /
           one_channel_threads(g, pass, threads);
  }
  if (strided_eligible(g, pass, threads, SIZE_MAX))
    return g.flops() / (kStridedRate[static_cast<int>(pass)] * strided_threads(g, pass, threads));
  const double R = double(g.col_rows()), K = double(g.group_out());
  const double J = double(g.N) * double(g.out_plane());
  // Columns per GEMM: one chunk of unfolded input, as the chunk planner cuts it.
  const double cols = std::max(1.0, std::min(J, double(kIm2colChunkBytes) / sizeof(float) / R));
  double gemm = 0;
  switch (pass) {
    case ConvPass::Forward: gemm = gemm_seconds(g.flops(), K, cols, R); break;
    case ConvPass::BackwardData: gemm = gemm_seconds(g.flops(), R, cols, K); break;
    case ConvPass::BackwardWeights: gemm = gemm_seconds(g.flops(), K, R, cols); break;
  }
  const double G = double(g.groups);
  const double unfold = G * (R * J * (g.stride == 1 ? kUnfoldSeconds : kUnfoldStrided) +
                             R * double(g.N) * double(g.OH) * kPieceSeconds);
  const double stage = pass == ConvPass::Forward ? 0.0 : G * K * J * kUnfoldSeconds;
  return (gemm + unfold + stage) / threads;
}

// FFT's own model (fft.hpp), which also picks its tiles; the work splits evenly.
double fft_seconds(const ConvGeom& g, ConvPass pass, int threads) {
  return fft_model_seconds(g, pass) / threads;
}

// Winograd: the α² per-point GEMMs (Cout × tiles-per-block × Cin each) plus the input and
// output transforms, per tile, channel and point; the kernel transform is negligible.
// (backward-weights: dy's transform is the "output" one, its GEMMs Cout × Cin × tiles.)
double winograd_seconds(const ConvGeom& g, ConvPass pass, int threads) {
  const std::size_t m = winograd_tile_size(g, pass);
  const bool data = pass == ConvPass::BackwardData;
  const double Ho = double(data ? g.H : g.OH), Wo = double(data ? g.W : g.OW);
  const double a2 = double((m + g.KH - 1) * (m + g.KH - 1));  // points per tile
  const double tiles = g.KH == 5 && data ? double(winograd5_backward_data_tiles(g))
                      : double(g.N) * std::ceil(Ho / double(m)) * std::ceil(Wo / double(m));
  const double Cin = double(data ? g.K : g.C), Cout = double(data ? g.C : g.K);
  const double flops = 2.0 * a2 * tiles * Cin * Cout;
  // Tiles per block, about as the planner cuts them.
  const double by_cache = double(kWinogradBlockBytes) / sizeof(float) / (a2 * (Cin + Cout));
  const double tb =
      std::min(tiles, std::max({by_cache, double(kWinogradMinBlockTiles), Cin, Cout}));
  const double small = pass == ConvPass::BackwardWeights ? std::min({Cout, Cin, tb})
                                                         : std::min({Cout, tb, Cin});
  double gemm = flops / (kWinoGemmRate * small / (small + kGemmHalf));
  if (g.KH == 5 && pass != ConvPass::BackwardWeights) {
    // F(4×4, 5×5)'s products are (tiles × Cout) = (tiles × Cin)·(Cin × Cout) per point,
    // rows of 16 lanes of Cout: their rate follows the lanes Cout fills and the depth
    // Cin. Fitted to LeNet's second layer, whose backward-data (Cin 50, Cout 20) ran its
    // 2.25 times the forward's products (Cin 20, Cout 50) in 1.6 to 1.9 times its time.
    const double lanes = Cout / (16.0 * std::ceil(Cout / 16.0));
    gemm = flops / (kWino5GemmRate * lanes * Cin / (Cin + kWino5GemmDepth));
  }
  const double transforms = tiles * a2 * (Cin + Cout) * kWinoTransformSeconds;
  return kWinoCallSeconds + (gemm + transforms) / threads;
}

// The model with its constants alone.
double builtin_seconds(ConvAlgo a, const ConvGeom& g, ConvPass pass, int threads) {
  threads = std::max(1, threads);
  switch (a) {
    case ConvAlgo::Direct: return g.flops() / kDirectRate;
    case ConvAlgo::Depthwise: {
      const bool same = g.KH == 3 && g.KW == 3 && g.stride == 1 && g.dilation == 1 &&
                        g.padding == 1;
      // Threads that get work: the loops split planes (input planes in backward-data
      // and in the "same" forward, output planes in the other forward) or kernels
      // (backward-weights); below kParallelMin multiply-adds they run on one thread.
      const double units = pass == ConvPass::BackwardWeights          ? double(g.K)
                           : pass == ConvPass::BackwardData || same ? double(g.N * g.C)
                                                                      : double(g.N * g.K);
      const int used = g.flops() / 2 < double(kParallelMin)
                           ? 1
                           : static_cast<int>(std::min(double(threads), units));
      const int i = static_cast<int>(pass);
      const double rate = !same              ? kDepthwiseRate
                          : g.group_out() > 1 ? kDepthwiseSameManyRate[i]
                                              : kDepthwiseSameRate[i];
      return g.flops() / (rate * used);
    }
    case ConvAlgo::Im2colGemm: return im2col_seconds(g, pass, threads);
    case ConvAlgo::FFT: return fft_seconds(g, pass, threads);
    case ConvAlgo::Winograd: return winograd_seconds(g, pass, threads);
    case ConvAlgo::Auto: break;
  }
  return 0.0;
}

// ---- calibration ---------------------------------------------------------------------

constexpr ConvAlgo kCalibrated[] = {ConvAlgo::Direct, ConvAlgo::Im2colGemm, ConvAlgo::FFT,
                                    ConvAlgo::Winograd, ConvAlgo::Depthwise};
constexpr ConvPass kPasses[] = {ConvPass::Forward, ConvPass::BackwardData,
                                ConvPass::BackwardWeights};
constexpr char kCalibrationHeader[] = "minicnn conv calibration 1";

static_assert(static_cast<int>(ConvAlgo::Depthwise) + 1 == ConvCalibration::kAlgos &&
                  static_cast<int>(ConvPass::BackwardWeights) + 1 == ConvCalibration::kPasses,
              "ConvCalibration's tables have a row per algorithm and a column per pass");

int idx(ConvAlgo a) { return static_cast<int>(a); }
int idx(ConvPass p) { return static_cast<int>(p); }

// The layers the factors are fitted to: small versions of what networks are made of.
// (Each is timed with every algorithm eligible for it; the reference loops only on the
// first, the others would take them milliseconds.)
std::vector<ConvGeom> calibration_probes() {
  return {ConvGeom::make(1, 1, 28, 28, 16, 3, 3, 1, 1),     // a stem on one image
          ConvGeom::make(8, 1, 28, 28, 16, 3, 3, 1, 1),     // a stem: one input channel
          ConvGeom::make(8, 16, 28, 28, 16, 3, 3, 1, 1),    // a thin 3×3 layer
          ConvGeom::make(8, 64, 8, 8, 64, 3, 3, 1, 1),      // a wider one on a small plane
          ConvGeom::make(8, 16, 14, 14, 32, 5, 5, 1, 0),    // 5×5
          ConvGeom::make(8, 16, 28, 28, 32, 3, 3, 2, 1),    // strided
          ConvGeom::make(8, 32, 28, 28, 32, 3, 3, 1, 1).grouped(32)};  // depthwise
}
// The probe whose time is all fixed cost.
ConvGeom tiny_probe() { return ConvGeom::make(1, 1, 8, 8, 1, 3, 3, 1, 1); }
constexpr double kDirectProbeFlops = 1e6;

// The fastest of `reps` runs after one more (which plans FFTs and sizes workspaces).
double time_pass(ConvAlgo a, ConvPass pass, const ConvGeom& g, const ConvTensors& t,
                 ConvWorkspace& work, int reps, const char* who) {
  double fastest = -1;
  for (int rep = 0; rep <= reps; ++rep) {
    work.fft.forget();  // each pass on its own, transforming all its inputs
    const auto t0 = std::chrono::steady_clock::now();
    conv2d_run(a, pass, g, t, work, who);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (rep > 0 && (fastest < 0 || s < fastest)) fastest = s;
  }
  return fastest;
}

// Random inputs, and room for the outputs, of any pass of any of the geometries it was
// made for (the timings do not depend on the values).
struct TimingData {
  std::vector<float> x, w, y, dy, dx, dw, db;

  explicit TimingData(const std::vector<ConvGeom>& geoms) {
    std::size_t xs = 0, ws = 0, ys = 0, ks = 0;
    for (const ConvGeom& g : geoms) {
      xs = std::max(xs, g.N * g.C * g.H * g.W);
      ws = std::max(ws, g.weight_numel());
      ys = std::max(ys, g.N * g.K * g.OH * g.OW);
      ks = std::max(ks, g.K);
    }
    x.resize(xs), w.resize(ws), y.resize(ys), dy.resize(ys), dx.resize(xs), dw.resize(ws);
    db.resize(ks);
    Rng rng(1);
    for (std::vector<float>* v : {&x, &w, &dy})
      for (float& e : *v) e = rng.uniform(-1, 1);
  }

  ConvTensors tensors() {
    return {.x = x.data(), .w = w.data(), .b = db.data(), .dy = dy.data(),
            .y = y.data(), .dx = dx.data(), .dw = dw.data(), .db = db.data()};
  }
};

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) {
      const std::size_t colon = line.find(':');
      if (colon != std::string::npos) {
        std::size_t b = line.find_first_not_of(" \t", colon + 1);
        return b == std::string::npos ? "unknown" : line.substr(b);
      }
    }
  return "unknown";
}

// What the calibration depends on besides the thread count.
std::string machine_key() {
  return std::string("cpu ") + cpu_model() + "\nblas " + blas_core_name() + "\nversion " +
         kVersion + "\n";
}

std::uint64_t fnv1a(const std::string& s) {
  std::uint64_t h = 14695981039346656037ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

std::string cache_dir() {
  namespace fs = std::filesystem;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x != nullptr && fs::path(x).is_absolute())
    return (fs::path(x) / "minicnn").string();
  if (const char* h = std::getenv("HOME"); h != nullptr && fs::path(h).is_absolute())
    return (fs::path(h) / ".cache" / "minicnn").string();
  return "";
}

[[noreturn]] void bad_file(const std::string& path, std::size_t line, const std::string& what) {
  throw Error("read_conv_calibration: " + path +
              (line > 0 ? ": line " + std::to_string(line) : std::string()) + ": " + what);
}

struct TuneCache {
  std::mutex mutex;
  std::map<std::tuple<ConvGeom, ConvPass, int>, ConvChoice> choices;  // by threads too
};

TuneCache& tune_cache() {
  static TuneCache c;
  return c;
}

}  // namespace

ConvCalibration::ConvCalibration() {
  for (auto& row : factor) row.fill(1.0);
}

double conv_estimate_seconds(ConvAlgo a, const ConvGeom& g, ConvPass pass, int threads,
                             const ConvCalibration& c) {
  threads = std::max(1, threads);
  if (a == ConvAlgo::Auto) return 0.0;
  return c.fixed_seconds[idx(a)][idx(pass)] +
         c.factor[idx(a)][idx(pass)] * builtin_seconds(a, g, pass, threads);
}

double conv_estimate_seconds(ConvAlgo a, const ConvGeom& g, ConvPass pass, int threads) {
  return conv_estimate_seconds(a, g, pass, threads, conv_calibration(std::max(1, threads)));
}

ConvCalibration conv_measure_calibration() {
  ConvCalibration c;
  c.threads = num_threads();
  c.source = "measured";
  const std::vector<ConvGeom> probes = calibration_probes();
  const ConvGeom tiny = tiny_probe();
  TimingData data(probes);
  const ConvTensors t = data.tensors();
  ConvWorkspace work;
  for (ConvAlgo a : kCalibrated)
    for (ConvPass pass : kPasses) {
      double fixed = 0;
      if (conv_algo_eligible(a, tiny))
        fixed = time_pass(a, pass, tiny, t, work, 7, "conv_measure_calibration");
      double log_sum = 0;
      int n = 0;
      for (const ConvGeom& g : probes) {
        if (!conv_algo_eligible(a, g)) continue;
        if (a == ConvAlgo::Direct && g.flops() > kDirectProbeFlops) continue;
        const double measured = time_pass(a, pass, g, t, work, 3, "conv_measure_calibration");
        const double model = builtin_seconds(a, g, pass, c.threads);
        if (model <= 0) continue;
        log_sum += std::log(std::max(measured - fixed, 0.1 * measured) / model);
        ++n;
      }
      c.fixed_seconds[idx(a)][idx(pass)] = fixed;
      c.factor[idx(a)][idx(pass)] = n > 0 ? std::clamp(std::exp(log_sum / n), 0.02, 50.0) : 1.0;
    }
  return c;
}

std::string conv_calibration_cache_path(int threads) {
  const std::string dir = cache_dir();
  if (dir.empty()) return "";
  char hash[17];
  std::snprintf(hash, sizeof hash, "%016llx", static_cast<unsigned long long>(fnv1a(machine_key())));
  return dir + "/conv-calibration-" + hash + "-t" + std::to_string(threads) + ".txt";
}

void write_conv_calibration(const std::string& path, const ConvCalibration& c) {
  std::ostringstream out;
  out.precision(6);
  out << kCalibrationHeader << "\n" << machine_key() << "threads " << c.threads << "\n"
      << "# algorithm pass fixed-seconds factor\n";
  for (ConvAlgo a : kCalibrated)
    for (ConvPass p : kPasses)
      out << to_string(a) << " " << to_string(p) << " " << std::scientific
          << c.fixed_seconds[idx(a)][idx(p)] << " " << c.factor[idx(a)][idx(p)] << "\n";
  out << "end\n";  // a file cut short anywhere lacks it
  write_file_atomic(path, out.str());
}

ConvCalibration read_conv_calibration(const std::string& path) {
  const std::vector<std::uint8_t> bytes = read_file(path, "read_conv_calibration");
  std::istringstream in(std::string(bytes.begin(), bytes.end()));
  ConvCalibration c;
  c.source = path;
  std::string line;
  std::size_t n = 0;
  bool seen[ConvCalibration::kAlgos][ConvCalibration::kPasses] = {};
  bool threads_seen = false, ended = false;
  while (std::getline(in, line)) {
    ++n;
    if (ended) bad_file(path, n, "text after 'end'");
    if (line == "end") {
      ended = true;
      continue;
    }
    if (n == 1) {
      if (line != kCalibrationHeader)
        bad_file(path, n, std::string("not a calibration file (expected '") + kCalibrationHeader + "')");
      continue;
    }
    if (line.empty() || line[0] == '#') continue;
    std::istringstream words(line);
    std::string first, second;
    words >> first;
    if (first == "cpu" || first == "blas" || first == "version") continue;  // for the reader
    if (first == "threads") {
      if (!(words >> c.threads) || c.threads < 1) bad_file(path, n, "bad thread count: " + line);
      threads_seen = true;
      continue;
    }
    words >> second;
    int a = -1, p = -1;
    for (ConvAlgo x : kCalibrated)
      if (to_string(x) == first) a = idx(x);
    for (ConvPass x : kPasses)
      if (to_string(x) == second) p = idx(x);
    if (a < 0 || p < 0) bad_file(path, n, "unknown algorithm or pass: " + line);
    std::string fs, ff, rest;
    if (!(words >> fs >> ff) || (words >> rest)) bad_file(path, n, "expected two numbers: " + line);
    char* end1 = nullptr;
    char* end2 = nullptr;
    const double fixed = std::strtod(fs.c_str(), &end1), factor = std::strtod(ff.c_str(), &end2);
    if (*end1 != '\0' || *end2 != '\0' || !std::isfinite(fixed) || !std::isfinite(factor) ||
        fixed < 0 || fixed > 10 || factor <= 0 || factor > 1e3)
      bad_file(path, n, "expected a fixed cost in [0, 10] s and a factor in (0, 1000]: " + line);
    c.fixed_seconds[a][p] = fixed;
    c.factor[a][p] = factor;
    seen[a][p] = true;
  }
  if (n == 0) bad_file(path, 0, "empty");
  if (!ended) bad_file(path, 0, "no 'end' line (truncated?)");
  if (!threads_seen) bad_file(path, 0, "no thread count");
  for (ConvAlgo a : kCalibrated)
    for (ConvPass p : kPasses)
      if (!seen[idx(a)][idx(p)])
        bad_file(path, 0, "no line for " + to_string(a) + " " + to_string(p) + " (truncated?)");
  return c;
}

ConvCalibration conv_calibration_for(int threads, const std::string& mode,
                                     const std::string& cache_path) {
  ConvCalibration c;
  c.threads = threads;
  if (mode == "builtin") return c;
  if (!mode.empty() && mode != "measure")
    return read_conv_calibration(mode);  // asked for by name: a bad file is an Error
  if (mode.empty() && !cache_path.empty() && std::filesystem::exists(cache_path)) {
    try {
      ConvCalibration cached = read_conv_calibration(cache_path);
      if (cached.threads == threads) return cached;
    } catch (const Error&) {
      // a damaged cache file is measured again and replaced
    }
  }
  if (threads != num_threads()) return c;  // cannot be measured from here
  c = conv_measure_calibration();
  if (!cache_path.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(std::filesystem::path(cache_path).parent_path(), ec);
    try {
      write_conv_calibration(cache_path, c);
    } catch (const std::exception&) {
      // a cache that cannot be written costs the next process a measurement, no more
    }
  }
  return c;
}

const ConvCalibration& conv_calibration(int threads) {
  static std::mutex mutex;
  static std::map<int, ConvCalibration> chosen;
  std::lock_guard<std::mutex> lock(mutex);
  if (auto it = chosen.find(threads); it != chosen.end()) return it->second;
  // Unset: the built-in constants (see select.hpp for why); "cache": the cache file's,
  // measured and written when there is none.
  const char* env = std::getenv("MINICNN_CONV_CALIBRATION");
  std::string mode = env != nullptr && *env != '\0' ? env : "builtin";
  if (mode == "cache") mode.clear();
  ConvCalibration c = conv_calibration_for(threads, mode, conv_calibration_cache_path(threads));
  return chosen.emplace(threads, std::move(c)).first->second;
}

ConvChoice conv_select(const ConvGeom& g, ConvPass pass, int threads, std::size_t im2col_limit) {
  ConvChoice best;
  best.seconds = -1.0;
  for (ConvAlgo a : {ConvAlgo::Im2colGemm, ConvAlgo::FFT, ConvAlgo::Winograd,
                     ConvAlgo::Depthwise, ConvAlgo::Direct}) {
    if (!conv_algo_eligible(a, g)) continue;
    const double t = conv_estimate_seconds(a, g, pass, threads);
    if (best.seconds < 0 || t < best.seconds) {
      best.algo = a;
      best.seconds = t;
    }
  }
  best.workspace_bytes = conv_workspace_bytes(best.algo, g, pass, threads, im2col_limit);
  return best;
}

ConvChoice conv_autotune(const ConvGeom& g, ConvPass pass, int threads, std::size_t im2col_limit) {
  const auto key = std::tuple{g, pass, threads};
  TuneCache& cache = tune_cache();
  {
    std::lock_guard<std::mutex> lock(cache.mutex);
    auto it = cache.choices.find(key);
    if (it != cache.choices.end()) return it->second;
  }
  TimingData data({g});
  const ConvTensors t = data.tensors();
  ConvWorkspace work;
  work.im2col.limit_bytes = im2col_limit;
  work.winograd.limit_bytes = im2col_limit;

  double best_estimate = -1;
  for (ConvAlgo a : {ConvAlgo::Im2colGemm, ConvAlgo::FFT, ConvAlgo::Winograd, ConvAlgo::Depthwise})
    if (conv_algo_eligible(a, g)) {
      const double t = conv_estimate_seconds(a, g, pass, threads);
      if (best_estimate < 0 || t < best_estimate) best_estimate = t;
    }

  ConvChoice best;
  best.seconds = -1.0;
  for (ConvAlgo a : {ConvAlgo::Im2colGemm, ConvAlgo::FFT, ConvAlgo::Winograd,
                     ConvAlgo::Depthwise, ConvAlgo::Direct}) {
    if (!conv_algo_eligible(a, g)) continue;
    // The reference loops are only worth timing where the model says they might win.
    if (a == ConvAlgo::Direct && conv_estimate_seconds(a, g, pass, threads) > 4 * best_estimate)
      continue;
    const double fastest = time_pass(a, pass, g, t, work, 2, "conv_autotune");
    if (best.seconds < 0 || fastest < best.seconds) {
      best.algo = a;
      best.seconds = fastest;
    }
  }
  best.measured = true;
  best.workspace_bytes = conv_workspace_bytes(best.algo, g, pass, threads, im2col_limit);
  std::lock_guard<std::mutex> lock(cache.mutex);
  cache.choices.emplace(key, best);
  return best;
}

bool conv_autotune_from_env() {
  const char* v = std::getenv("MINICNN_CONV_AUTOTUNE");
  return v != nullptr && std::string(v) == "1";
}

ConvChoice conv_choose(ConvAlgo requested, const ConvGeom& g, ConvPass pass, int threads,
                       std::size_t im2col_limit, bool autotune) {
  if (requested == ConvAlgo::Auto) {
    if (autotune || conv_autotune_from_env()) return conv_autotune(g, pass, threads, im2col_limit);
    return conv_select(g, pass, threads, im2col_limit);
  }
  ConvChoice c;
  c.algo = requested;
  c.seconds = conv_estimate_seconds(requested, g, pass, threads);
  c.workspace_bytes = conv_workspace_bytes(requested, g, pass, threads, im2col_limit);
  return c;
}

}  // namespace minicnn
