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

// The same, followed by a trailer holding the FNV-1a hash of the archive's bytes (LibTorch
// ignores bytes after an archive's end). LibTorch's loader can crash on a damaged archive
// (a mutated type name in its pickle, found by the cache reader's fuzz), so a file that
// others may copy or damage is checked with verify_archive_trailer before LibTorch reads it.
void save_archive_with_trailer_atomic(torch::serialize::OutputArchive& archive,
                                      const std::string& path);

// Throws DataError naming `path` unless it ends with the trailer of
// save_archive_with_trailer_atomic and the hash of the bytes before it matches (a truncated,
// altered or foreign file, or one written without a trailer).
void verify_archive_trailer(const std::string& path);

}  // namespace mer::data
