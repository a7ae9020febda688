#pragma once
// Integrity of a zip archive before another reader trusts it. LibTorch's archives (checkpoints)
// are zip files whose entries carry a CRC-32, but LibTorch's loader does not check them and
// can crash or load altered weights silently on a damaged file (the checkpoint reader's fuzz
// found both); libzip checks the archive's structure and every entry's CRC here first, and
// what LibTorch's reader would take differently from libzip is refused.
#include <string>

namespace mer::data {

// Throws DataError naming `path` and what is wrong unless it is a zip archive whose central
// directory agrees with its local headers, whose entries are all files (none a folder by name
// or attributes) and whose every entry reads back with its recorded CRC-32 and size. Reads
// the whole file.
void verify_zip_integrity(const std::string& path);

}  // namespace mer::data
