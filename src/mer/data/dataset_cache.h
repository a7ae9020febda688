#pragma once
// A prepared dataset decoded once and kept as one LibTorch archive (`mer cache`): every tensor
// read_prepared produces (flows, face and onset crops, landmarks, AU vectors) and the sample
// list, in a single file.
//
// Why: decoding hundreds of PNG/JPEG files needs OpenCV, which a torch-only build (e.g. against
// a CUDA LibTorch on a GPU machine) does not have; and it is the slow part of loading a large
// prepared set. A build of either kind reads the cache, and a run made on it has the same
// data checksum as a run made on the folder it came from, so its checkpoints evaluate on
// either.
#include <string>

#include "mer/data/dataset.h"

namespace mer::data {

// File name extension that marks a cache where a prepared folder is expected (--data).
inline constexpr const char* kDatasetCacheExtension = ".pt";

// True when `path` names a dataset cache rather than a prepared folder: a regular file whose
// name ends in kDatasetCacheExtension.
bool is_dataset_cache(const std::string& path);

// Writes `dataset` (validated first) to `file`, through a temporary name so that an
// interrupted write never leaves a file that looks complete. Flows are stored as uint8 (they
// hold integral 0..255 values; a flow outside that is a DataError), so a cache is about a
// quarter of the decoded floats.
void write_dataset_cache(const Dataset& dataset, const std::string& file);

// Reads a cache written by write_dataset_cache. Throws DataError naming the file when it is
// missing, not a mer dataset cache, of another format version, or when its content does not
// match the checksum recorded at writing (a truncated or altered file). Dataset::root is the
// folder the cache was made from.
Dataset read_dataset_cache(const std::string& file);

}  // namespace mer::data
