#include "mer/data/zip_integrity.h"

#include <zip.h>

#include <memory>
#include <vector>

#include "mer/core/error.h"

namespace mer::data {

namespace {

constexpr zip_uint32_t kDosFolderAttribute = 0x10;

struct ZipCloser {
  void operator()(zip_t* z) const { zip_discard(z); }
};
struct FileCloser {
  void operator()(zip_file_t* f) const { zip_fclose(f); }
};

std::string message_of(int code) {
  zip_error_t error;
  zip_error_init_with_code(&error, code);
  std::string message = zip_error_strerror(&error);
  zip_error_fini(&error);
  return message;
}

}  // namespace

void verify_zip_integrity(const std::string& path) {
  int code = 0;
  // ZIP_CHECKCONS: the central directory must agree with every local header, which is what
  // other readers (LibTorch's among them) may follow instead.
  std::unique_ptr<zip_t, ZipCloser> zip(zip_open(path.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &code));
  if (!zip) {
    if (code == ZIP_ER_NOZIP) throw DataError(path + ": not a zip archive");
    throw DataError(path + ": damaged zip archive (" + message_of(code) + ")");
  }
  const zip_int64_t entries = zip_get_num_entries(zip.get(), 0);
  std::vector<char> buffer(1 << 16);
  for (zip_int64_t i = 0; i < entries; ++i) {
    const char* name = zip_get_name(zip.get(), static_cast<zip_uint64_t>(i), 0);
    const std::string entry = name ? name : "entry " + std::to_string(i);
    // LibTorch's zip reader (miniz) takes an entry whose name ends in '/' or whose external
    // attributes carry the MS-DOS folder bit for a folder and reads it as empty: one flipped
    // bit there loaded a tensor as zeros (found by the checkpoint reader's fuzz). An archive
    // of files, as LibTorch writes it, has neither.
    zip_uint8_t opsys = 0;
    zip_uint32_t attributes = 0;
    if (zip_file_get_external_attributes(zip.get(), static_cast<zip_uint64_t>(i), 0, &opsys,
                                         &attributes) != 0 ||
        (attributes & kDosFolderAttribute) != 0 || (!entry.empty() && entry.back() == '/')) {
      throw DataError(path + ": damaged zip archive (" + entry + " is marked as a folder)");
    }
    std::unique_ptr<zip_file_t, FileCloser> file(zip_fopen_index(zip.get(), static_cast<zip_uint64_t>(i), 0));
    if (!file) {
      throw DataError(path + ": damaged zip archive (" + entry + ": " + zip_strerror(zip.get()) + ")");
    }
    // libzip compares the CRC-32 and the size when an entry has been read to its end.
    zip_int64_t n = 0;
    while ((n = zip_fread(file.get(), buffer.data(), buffer.size())) > 0) {
    }
    if (n < 0) {
      throw DataError(path + ": damaged zip archive (" + entry + ": " +
                      zip_file_strerror(file.get()) + ")");
    }
  }
}

}  // namespace mer::data
