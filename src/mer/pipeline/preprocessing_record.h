#pragma once
// How a preparation's preprocessing is recorded and read back: the "parameters" of a prepared
// folder's manifest.json, which checkpoints carry too, so that a new clip is preprocessed
// exactly like the training data (`mer predict`), and a folder prepared with other settings is
// recognised (`mer prepare`).
#include <nlohmann/json.hpp>

#include <string>

#include "mer/face/clip_preprocessor.h"

namespace mer::pipeline {

// manifest.json's "format", and the version of the prepare cache (manifest.json and
// clips/<key>.json): a folder of another version is refused (prepare into a new folder).
inline constexpr const char* kPreparedFormat = "mer-prepared";
inline constexpr int kPrepareCacheVersion = 1;

// Every parameter that shapes a prepared clip (detector, alignment, flow, map, apex
// spotting, crops), by name.
nlohmann::json preprocessing_to_json(const face::ClipPreprocessorOptions& options);

// Every parameter that shapes a prepared clip, as JSON text: the "parameters" of
// manifest.json without the storage settings (also what `mer predict --json` reports).
std::string describe_preprocessing(const face::ClipPreprocessorOptions& options);

// The preprocessing options a prepared folder was made with (its manifest.json), so that a
// new clip can be preprocessed exactly like the training data. Throws DataError naming the
// file when it is missing, unreadable, of another version or lacks a parameter.
face::ClipPreprocessorOptions read_preprocessing(const std::string& prepared_dir);
// The same from a manifest already read (e.g. the one a checkpoint recorded); `where` names
// its source in errors.
face::ClipPreprocessorOptions preprocessing_from_manifest(const nlohmann::json& manifest,
                                                          const std::string& where);
// The JPEG quality a manifest's crops were stored with (0 when it does not say).
int manifest_jpeg_quality(const nlohmann::json& manifest);

// What differs between two records, "flow/working_size 112 -> 224, map/output_size 28 -> 32".
std::string describe_changes(const nlohmann::json& before, const nlohmann::json& now);

}  // namespace mer::pipeline
