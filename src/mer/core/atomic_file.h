#pragma once
// The one way mer writes a file: into a temporary file beside the target, then a rename, so
// that a reader (or a rerun after a kill) sees either the old file or the whole new one.
// Every I/O failure (full disk, quota, read-only file system, a file-size limit, a missing or
// unwritable folder) becomes one mer::IoError naming the target file and the system's reason;
// the temporary file is removed and an existing file under the target name is left intact.
//
// Not covered: power loss (no fsync; a kill -9 of the process loses nothing written before
// the rename, since the page cache survives the process).
#include <cstddef>
#include <string>
#include <string_view>

#include "mer/core/error.h"

namespace mer {

// A write that failed at the system level (ENOSPC, EDQUOT, EROFS, EFBIG, EACCES, ...): the
// same command may succeed once the cause is gone, so a LOSO fold failing with it is retried
// by a rerun.
class IoError : public Error {
 public:
  using Error::Error;
};

// Streams bytes into `path` atomically. Not thread-safe per object; distinct objects (distinct
// target paths) may be used from several threads. Usage:
//   AtomicFile file(path); file.write(a, n); file.write(b, m); file.commit();
// Destroying an uncommitted AtomicFile removes its temporary file.
class AtomicFile {
 public:
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  // Appends bytes; throws IoError (temporary file removed) on failure.
  void write(const void* data, size_t size);
  // Closes and renames onto the target; throws IoError (temporary file removed) on failure.
  void commit();

  const std::string& path() const { return path_; }
  const std::string& temporary_path() const { return tmp_; }
  // Bytes written so far.
  size_t size() const { return written_; }

 private:
  [[noreturn]] void fail(const char* what, int error_number);
  void discard() noexcept;

  std::string path_;
  std::string tmp_;
  int fd_ = -1;
  size_t written_ = 0;
  bool committed_ = false;
};

// Writes `bytes` to `path` atomically (see AtomicFile).
void write_file_atomic(const std::string& path, std::string_view bytes);

// The system's reason for errno `error_number`, in words a user can act on ("no space left on
// the device (disk full)", "file too large (a file-size limit)", ...).
std::string io_failure_reason(int error_number);

}  // namespace mer
