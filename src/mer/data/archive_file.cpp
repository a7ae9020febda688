#include "mer/data/archive_file.h"

#include <exception>

#include "mer/core/atomic_file.h"
#include "mer/core/checksum.h"

namespace mer::data {

std::string save_archive_atomic(torch::serialize::OutputArchive& archive, const std::string& path) {
  AtomicFile file(path);
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
  file.commit();
  return hash.hex();
}

}  // namespace mer::data
