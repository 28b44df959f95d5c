#include "image_folder.hpp"

#include <stb_image.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <memory>

namespace minicnn {
namespace {

namespace fs = std::filesystem;

struct Tap {
  std::size_t src;
  float weight;
};

// For each of out output positions along an axis of in input pixels, the input pixels it
// covers and by how much: output o spans [o·s, (o + 1)·s) in input coordinates, s =
// in / out, and input i spans [i, i + 1); the weights (overlaps / s) sum to 1.
std::vector<std::vector<Tap>> area_taps(std::size_t in, std::size_t out) {
  const double s = double(in) / double(out);
  std::vector<std::vector<Tap>> taps(out);
  for (std::size_t o = 0; o < out; ++o) {
    const double lo = double(o) * s, hi = double(o + 1) * s;
    const auto first = std::size_t(std::floor(lo));
    const auto last = std::min(in, std::size_t(std::ceil(hi)));
    for (std::size_t i = first; i < last; ++i) {
      const double overlap = std::min(hi, double(i + 1)) - std::max(lo, double(i));
      if (overlap > 0) taps[o].push_back({i, float(overlap / s)});
    }
  }
  return taps;
}

bool is_image_file(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return char(std::tolower(c)); });
  return ext == ".png" || ext == ".pgm" || ext == ".ppm" || ext == ".jpg" || ext == ".jpeg";
}

bool hidden(const fs::path& p) { return p.filename().string().starts_with("."); }

// The sorted names of root's entries that pass keep.
template <class Keep>
std::vector<fs::path> sorted_entries(const fs::path& root, Keep keep) {
  std::vector<fs::path> out;
  for (const fs::directory_entry& e : fs::directory_iterator(root))
    if (!hidden(e.path()) && keep(e)) out.push_back(e.path());
  std::sort(out.begin(), out.end(),
            [](const fs::path& a, const fs::path& b) { return a.filename() < b.filename(); });
  return out;
}

// The file's pixels as C planes of H×W bytes (C = channels), resized.
void read_one(const std::string& path, const ImageFolderOptions& opt, std::uint8_t* out) {
  const int C = opt.grey ? 1 : 3;
  int w = 0, h = 0, in_file = 0;
  std::unique_ptr<stbi_uc, void (*)(void*)> px(stbi_load(path.c_str(), &w, &h, &in_file, C),
                                               stbi_image_free);
  if (!px) {
    const char* why = stbi_failure_reason();
    throw Error("load_image_folder: " + path + ": not an image stb_image can read (" +
                (why ? why : "unknown reason") + ")");
  }
  // stb gives H×W×C interleaved; the dataset keeps planes.
  const std::size_t H = std::size_t(h), W = std::size_t(w);
  std::vector<std::uint8_t> planar(std::size_t(C) * H * W);
  for (std::size_t c = 0; c < std::size_t(C); ++c)
    for (std::size_t i = 0; i < H * W; ++i) planar[c * H * W + i] = px.get()[i * C + c];
  resize_area(planar.data(), std::size_t(C), H, W, out, opt.height, opt.width);
}

}  // namespace

void resize_area(const std::uint8_t* in, std::size_t channels, std::size_t in_h, std::size_t in_w,
                 std::uint8_t* out, std::size_t out_h, std::size_t out_w) {
  check_arg(in_h > 0 && in_w > 0 && out_h > 0 && out_w > 0, "resize_area", "the sizes",
            "at least 1x1",
            std::to_string(in_h) + "x" + std::to_string(in_w) + " to " + std::to_string(out_h) +
                "x" + std::to_string(out_w));
  const auto rows = area_taps(in_h, out_h), cols = area_taps(in_w, out_w);
  std::vector<float> wide(in_h * out_w);  // one plane resized along its rows
  for (std::size_t c = 0; c < channels; ++c) {
    const std::uint8_t* plane = in + c * in_h * in_w;
    for (std::size_t y = 0; y < in_h; ++y)
      for (std::size_t x = 0; x < out_w; ++x) {
        float v = 0;
        for (const Tap& t : cols[x]) v += t.weight * float(plane[y * in_w + t.src]);
        wide[y * out_w + x] = v;
      }
    std::uint8_t* dst = out + c * out_h * out_w;
    for (std::size_t y = 0; y < out_h; ++y)
      for (std::size_t x = 0; x < out_w; ++x) {
        float v = 0;
        for (const Tap& t : rows[y]) v += t.weight * wide[t.src * out_w + x];
        dst[y * out_w + x] = std::uint8_t(std::clamp(std::lround(v), 0L, 255L));
      }
  }
}

ImageFolder load_image_folder(const std::string& root, const ImageFolderOptions& opt) {
  check_arg(opt.height > 0 && opt.width > 0, "load_image_folder", "the image size", "at least 1x1",
            std::to_string(opt.height) + "x" + std::to_string(opt.width));
  std::error_code ec;
  if (!fs::is_directory(root, ec)) throw Error("load_image_folder: " + root + " is not a folder");
  ImageFolder f;
  std::vector<fs::path> class_dirs =
      sorted_entries(root, [](const fs::directory_entry& e) { return e.is_directory(); });
  if (class_dirs.empty())
    throw Error("load_image_folder: " + root + " holds no class folders (root/<class>/<image>)");
  if (class_dirs.size() > 256)
    throw Error("load_image_folder: " + root + " holds " + std::to_string(class_dirs.size()) +
                " class folders; at most 256 are supported");

  std::vector<std::uint8_t> labels;
  for (std::size_t k = 0; k < class_dirs.size(); ++k) {
    std::vector<fs::path> files = sorted_entries(class_dirs[k], [](const fs::directory_entry& e) {
      return e.is_regular_file() && is_image_file(e.path());
    });
    if (files.empty())
      throw Error("load_image_folder: the class folder " + class_dirs[k].string() +
                  " holds no .png, .pgm, .ppm, .jpg or .jpeg file");
    f.classes.push_back(class_dirs[k].filename().string());
    for (const fs::path& p : files) {
      f.files.push_back(p.string());
      labels.push_back(std::uint8_t(k));
    }
  }

  const std::size_t C = opt.grey ? 1 : 3, P = C * opt.height * opt.width;
  std::vector<std::uint8_t> images(f.files.size() * P);
  for (std::size_t i = 0; i < f.files.size(); ++i) read_one(f.files[i], opt, images.data() + i * P);
  f.data = Dataset(std::move(images), std::move(labels), opt.height, opt.width, f.classes.size(),
                   root, C);
  return f;
}

}  // namespace minicnn
