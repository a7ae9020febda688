#pragma once
// A raw binary copy of a dlib shape predictor, read in a fraction of the time dlib's own
// portable format takes (that format encodes each of the ~16 million floats of the 68-point
// model as variable-length integers; the copy holds them as they are in memory). The first
// load of a model writes the copy into mer's cache folder; later loads read it. The copy is
// tied to its model file (path, size, modification time) and to this machine's byte order and
// type sizes; anything else, or any damage, makes the reader decline and the caller fall back
// to dlib's file.
#include <dlib/image_processing/shape_predictor.h>

#include <string>

namespace mer::face {

// The copy of `model_path` in mer's cache folder (core/cache_dir.h; empty when there is none).
std::string shape_predictor_cache_path(const std::string& model_path);

// Fills `predictor` from the copy at `cache_path` and returns true, or returns false (leaving
// `predictor` as it was) when the copy is missing, was made from another version of
// `model_path`, or is damaged in any way.
bool read_shape_predictor_cache(const std::string& cache_path, const std::string& model_path,
                                dlib::shape_predictor& predictor);

// Writes the copy atomically (creating the folder); returns false on any failure, which
// costs only speed: the next load reads dlib's file again.
bool write_shape_predictor_cache(const std::string& cache_path, const std::string& model_path,
                                 const dlib::shape_predictor& predictor);

}  // namespace mer::face
