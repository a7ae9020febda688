#include "mer/core/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace mer {

std::string io_failure_reason(int error_number) {
  switch (error_number) {
    case ENOSPC:
      return "no space left on the device (disk full)";
#ifdef EDQUOT
    case EDQUOT:
      return "disk quota exceeded";
#endif
    case EROFS:
      return "read-only file system";
    case EFBIG:
      return "file too large (a file-size limit was reached)";
    case EACCES:
    case EPERM:
      return "permission denied";
    case ENOENT:
      return "the folder does not exist";
    case ENOTDIR:
      return "a part of the path is not a folder";
    case EIO:
      return "input/output error of the device";
    default:
      return std::strerror(error_number);
  }
}

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)), tmp_(path_ + ".tmp") {
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) fail("cannot write", errno);
}

AtomicFile::~AtomicFile() {
  if (!committed_) discard();
}

void AtomicFile::discard() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  ::unlink(tmp_.c_str());
}

void AtomicFile::fail(const char* what, int error_number) {
  discard();
  committed_ = true;  // nothing left to clean up
  throw IoError(path_ + ": " + what + ": " + io_failure_reason(error_number) +
                "; earlier results are left intact");
}

void AtomicFile::write(const void* data, size_t size) {
  if (committed_ || fd_ < 0) throw IoError(path_ + ": write after the file was closed");
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = ::write(fd_, p, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("cannot write", errno);
    }
    if (n == 0) fail("cannot write", ENOSPC);
    p += n;
    size -= static_cast<size_t>(n);
    written_ += static_cast<size_t>(n);
  }
}

void AtomicFile::commit() {
  if (committed_) throw IoError(path_ + ": committed twice");
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) {
    const int e = errno;
    fd_ = -1;
    fail("cannot write", e);
  }
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) fail("cannot replace the file", errno);
  committed_ = true;
}

void write_file_atomic(const std::string& path, std::string_view bytes) {
  AtomicFile file(path);
  file.write(bytes.data(), bytes.size());
  file.commit();
}

}  // namespace mer
