#pragma once
// State_dict files as PyTorch reads and writes them (.pth / .pt):
//   - reading: torch.save's zip format (PyTorch >= 1.6, also what torch::pickle_save writes)
//     and its older non-zip format (legacy_torch_file.h), told apart by their first bytes;
//   - writing: the zip format, through LibTorch's torch::pickle_save, which torch.load opens.
// The file holds a dict of name -> tensor; names are the model's PyTorch names (state_dict.h).
#include <string>

#include "mer/interop/state_dict.h"

namespace mer::interop {

// Throws DataError "<path>: ..." (one line) when the file is missing, unreadable, truncated,
// not a torch.save file, or holds something other than a dict of tensors.
StateDict read_torch_state_dict(const std::string& path);

// Writes the zip format atomically (a failed write leaves no partial file under `path`);
// throws IoError naming the path.
void write_torch_state_dict(const std::string& path, const StateDict& weights);

}  // namespace mer::interop
