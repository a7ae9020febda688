#pragma once
// The format torch.save wrote before PyTorch 1.6 (and still writes with
// _use_new_zipfile_serialization=False): five records one after the other,
//   pickle(magic number 0x1950a86a20f9469cfc6c), pickle(protocol version 1001),
//   pickle(sys_info: byte order and type sizes), the pickled object (tensors refer to
//   storages by persistent id), pickle(sorted list of storage keys),
// then, for each key in that list, the storage's element count (int64, little endian) and its
// raw bytes. Only the subset a state_dict needs is read (tensor_pickle.h); the tar format of
// PyTorch < 0.4 is not.
#include <string_view>

#include "mer/interop/state_dict.h"

namespace mer::interop {

// Whether `bytes` starts like a legacy torch.save file (a protocol-2 pickle of the magic number).
bool looks_like_legacy_torch_file(std::string_view bytes);

// Parses a legacy torch.save file held in memory. Throws PickleError saying what is wrong
// (truncated, not a torch file, a record of the wrong kind, a storage shorter than declared);
// callers prefix the file name.
StateDict read_legacy_torch_file(std::string_view bytes);

}  // namespace mer::interop
