// The library's version, written into the metadata of every checkpoint it saves
// ("minicnn.version"). It is the project version of CMakeLists.txt; a test holds the two
// together.
#pragma once

namespace minicnn {

inline constexpr char kVersion[] = "0.1.0";

}  // namespace minicnn
