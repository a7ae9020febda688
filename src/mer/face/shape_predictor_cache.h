#pragma once
// A raw binary copy of a dlib shape predictor, evaluated where it is mapped: dlib's portable
// format encodes each of the ~16 million floats of the 68-point model as variable-length
// integers and decodes them into one small allocation per leaf, which takes most of a
// one-clip `mer predict`; the copy lays the trees, splits and leaves out as fixed-size
// records, so that opening it reads only an index and fitting reads the leaves it reaches.
// The first load of a model writes the copy into mer's cache folder; later loads map it. The
// copy is tied to its model file (path, size, modification time) and to this machine's byte
// order and type sizes; anything else, or any damage, makes the reader decline and the caller
// fall back to dlib's file.
#include <dlib/image_processing/full_object_detection.h>
#include <dlib/image_processing/shape_predictor.h>
#include <dlib/opencv/cv_image.h>

#include <memory>
#include <string>

namespace mer::face {

// The copy of `model_path` in mer's cache folder (core/cache_dir.h; empty when there is none).
std::string shape_predictor_cache_path(const std::string& model_path);

// Writes the copy atomically (creating the folder); returns false on any failure, which
// costs only speed: the next load reads dlib's file again.
bool write_shape_predictor_cache(const std::string& cache_path, const std::string& model_path,
                                 const dlib::shape_predictor& predictor);

// A copy opened for fitting. Immutable; operator() is const and safe from several threads.
class MappedShapePredictor {
 public:
  // nullptr when the copy at `cache_path` is missing, was made from another version of
  // `model_path`, or is damaged in any way (every index it holds is checked here).
  static std::unique_ptr<MappedShapePredictor> open(const std::string& cache_path,
                                                    const std::string& model_path);

  unsigned long num_parts() const;
  // What dlib::shape_predictor::operator() returns for the model the copy was made from:
  // the same operations in the same order, so the same points.
  dlib::full_object_detection operator()(const dlib::cv_image<unsigned char>& image,
                                         const dlib::rectangle& rect) const;
  // The model as a dlib::shape_predictor again (for checking that the copy is exact).
  void to_dlib(dlib::shape_predictor& predictor) const;

  ~MappedShapePredictor();
  MappedShapePredictor(const MappedShapePredictor&) = delete;
  MappedShapePredictor& operator=(const MappedShapePredictor&) = delete;

 private:
  struct Layout;
  explicit MappedShapePredictor(std::unique_ptr<Layout> layout);
  std::unique_ptr<Layout> layout_;
};

}  // namespace mer::face
