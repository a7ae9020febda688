#pragma once
// LibTorch archives written through mer's one atomic-write path (core/atomic_file.h).
#include <torch/serialize/output-archive.h>

#include <string>

namespace mer::data {

// Saves `archive` to `path` atomically. LibTorch's own file writer throws c10::Error from its
// destructor when a write fails (which terminated the process on a full disk); this streams
// through mer::AtomicFile instead, so a failed write throws mer::IoError naming `path`, removes
// the temporary file and leaves an existing file under `path` intact. Returns the FNV-1a hash
// (16 hex digits) of the bytes written, equal to a later hash of the file.
std::string save_archive_atomic(torch::serialize::OutputArchive& archive, const std::string& path);

}  // namespace mer::data
