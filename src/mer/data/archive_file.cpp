#include "mer/data/archive_file.h"

#include <algorithm>
#include <exception>
#include <fstream>
#include <vector>

#include "mer/core/atomic_file.h"
#include "mer/core/checksum.h"
#include "mer/core/error.h"

namespace mer::data {

namespace {

// "\nMERSUM1 " + 16 hex digits + "\n".
constexpr char kTrailerTag[] = "\nMERSUM1 ";
constexpr size_t kTrailerTagSize = sizeof(kTrailerTag) - 1;
constexpr size_t kTrailerSize = kTrailerTagSize + 16 + 1;

// Streams the archive into `file`, hashing what it writes; returns the hash.
std::string stream_archive(torch::serialize::OutputArchive& archive, AtomicFile& file,
                           const std::string& path) {
  Fnv1a hash;
  std::exception_ptr failure;
  try {
    // A short count would make LibTorch throw later, from a destructor: report every write as
    // done and keep the first failure to throw once the archive is finished.
    archive.save_to([&](const void* data, size_t size) -> size_t {
      if (failure) return size;
      try {
        file.write(data, size);
        hash.update(data, size);
      } catch (...) {
        failure = std::current_exception();
      }
      return size;
    });
  } catch (const c10::Error& e) {
    const std::string message = e.what_without_backtrace();
    throw IoError(path + ": cannot write the archive (" + message.substr(0, message.find('\n')) +
                  ")");
  }
  if (failure) std::rethrow_exception(failure);
  return hash.hex();
}

}  // namespace

std::string save_archive_atomic(torch::serialize::OutputArchive& archive, const std::string& path) {
  AtomicFile file(path);
  const std::string hash = stream_archive(archive, file, path);
  file.commit();
  return hash;
}

void save_archive_with_trailer_atomic(torch::serialize::OutputArchive& archive,
                                      const std::string& path) {
  AtomicFile file(path);
  const std::string trailer = kTrailerTag + stream_archive(archive, file, path) + "\n";
  file.write(trailer.data(), trailer.size());
  file.commit();
}

void verify_archive_trailer(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw DataError(path + ": cannot be read");
  in.seekg(0, std::ios::end);
  const auto size = static_cast<size_t>(std::max<std::streamoff>(0, in.tellg()));
  const std::string damaged =
      path + ": damaged or not written by this mer (its checksum trailer ";
  if (size < kTrailerSize) throw DataError(damaged + "is missing)");
  std::string trailer(kTrailerSize, '\0');
  in.seekg(static_cast<std::streamoff>(size - kTrailerSize));
  in.read(trailer.data(), static_cast<std::streamsize>(kTrailerSize));
  if (!in || trailer.compare(0, kTrailerTagSize, kTrailerTag) != 0 || trailer.back() != '\n') {
    throw DataError(damaged + "is missing)");
  }
  Fnv1a hash;
  in.seekg(0);
  std::vector<char> buffer(1 << 20);
  for (size_t left = size - kTrailerSize; left > 0;) {
    const size_t n = std::min(left, buffer.size());
    if (!in.read(buffer.data(), static_cast<std::streamsize>(n))) {
      throw DataError(path + ": cannot be read");
    }
    hash.update(buffer.data(), n);
    left -= n;
  }
  if (trailer.compare(kTrailerTagSize, 16, hash.hex()) != 0) {
    throw DataError(damaged + "does not match its content: truncated or altered)");
  }
}

}  // namespace mer::data
