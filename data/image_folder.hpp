// A folder of images as a Dataset, laid out as torchvision's ImageFolder reads it:
//
//   root/bag/0001.png
//   root/bag/0002.jpg
//   root/coat/img7.pgm
//   ...
//
//   ImageFolder folder = load_image_folder("photos", {.height = 28, .width = 28, .grey = true});
//   fit(net, opt, folder.data, test, {...});
//   std::cout << evaluate(net, test).confusion.table(folder.classes);
//
// Each sub-folder of root is a class; the classes are sorted by name (byte order, as
// Python's sorted does) and numbered from 0, and so are the files within a class. Files
// ending in .png, .pgm, .ppm, .jpg or .jpeg (any case) are read by stb_image; other files
// and hidden ones (".name") are skipped. Every image is made grey (stb_image's luma
// weights) or RGB, and resized to height × width by area averaging (each output pixel
// the mean of the input area it covers, weighted by overlap), then kept as bytes.
//
// Errors name the file or folder: a file stb_image cannot decode, root not a folder, no
// class folders, a class folder without images, more than 256 classes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "mnist.hpp"

namespace minicnn {

struct ImageFolderOptions {
  std::size_t height = 28, width = 28;  // every image is resized to this, >= 1
  bool grey = true;                     // 1 channel; false: 3 (RGB)
};

struct ImageFolder {
  Dataset data;                      // (N, 1 or 3, height, width), labels the class numbers
  std::vector<std::string> classes;  // the sub-folder names, class i at index i
  std::vector<std::string> files;    // the path of image i
};

ImageFolder load_image_folder(const std::string& root, const ImageFolderOptions& opt = {});

// Resizes one image of channels planes (in_h × in_w bytes each) to out_h × out_w by area
// averaging, rounding to the nearest byte; out holds channels · out_h · out_w bytes.
// Sizes >= 1. The resampling behind load_image_folder.
void resize_area(const std::uint8_t* in, std::size_t channels, std::size_t in_h, std::size_t in_w,
                 std::uint8_t* out, std::size_t out_h, std::size_t out_w);

}  // namespace minicnn
