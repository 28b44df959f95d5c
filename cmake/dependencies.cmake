# Every dependency comes from Debian's packages (scripts/install-deps.sh); nothing is
# downloaded at configure time.
find_package(PkgConfig REQUIRED)
find_package(OpenMP REQUIRED)
find_package(xtensor REQUIRED)
find_package(ZLIB REQUIRED)
find_package(nlohmann_json 3 REQUIRED)

# OpenBLAS: the OpenMP build, so that its threads and ours are one pool (see
# core/blas.hpp). Debian installs each build under its own folder; when both are
# present the generic libopenblas.so may point at the pthread one, so look for the
# OpenMP folder first.
find_library(MINICNN_OPENBLAS_LIB NAMES openblas
  PATHS /usr/lib/${CMAKE_LIBRARY_ARCHITECTURE}/openblas-openmp NO_DEFAULT_PATH)
find_path(MINICNN_OPENBLAS_INCLUDE cblas.h
  PATHS /usr/include/${CMAKE_LIBRARY_ARCHITECTURE}/openblas-openmp NO_DEFAULT_PATH)
if(NOT MINICNN_OPENBLAS_LIB OR NOT MINICNN_OPENBLAS_INCLUDE)
  pkg_check_modules(OPENBLAS REQUIRED IMPORTED_TARGET openblas)
  message(WARNING "minicnn: the OpenMP build of OpenBLAS was not found (Debian package "
                  "libopenblas-openmp-dev); using ${OPENBLAS_LINK_LIBRARIES}, whose threads "
                  "may compete with minicnn's own")
  add_library(minicnn_openblas INTERFACE IMPORTED)
  target_link_libraries(minicnn_openblas INTERFACE PkgConfig::OPENBLAS)
else()
  add_library(minicnn_openblas INTERFACE IMPORTED)
  target_link_libraries(minicnn_openblas INTERFACE ${MINICNN_OPENBLAS_LIB})
  target_include_directories(minicnn_openblas INTERFACE ${MINICNN_OPENBLAS_INCLUDE})
endif()

pkg_check_modules(FFTW3F REQUIRED IMPORTED_TARGET fftw3f)
add_library(minicnn_fftw3f INTERFACE IMPORTED)
target_link_libraries(minicnn_fftw3f INTERFACE PkgConfig::FFTW3F)
# FFTW's OpenMP threading, for a single large plane (it shares our OpenMP pool).
find_library(MINICNN_FFTW3F_OMP NAMES fftw3f_omp HINTS ${FFTW3F_LIBRARY_DIRS} REQUIRED)
target_link_libraries(minicnn_fftw3f INTERFACE ${MINICNN_FFTW3F_OMP})
