#pragma once
// A reader for the subset of Python's pickle format that torch.save and LibTorch's
// torch::pickle_save emit for a state_dict (protocols 2 to 4): None, booleans, integers
// (including the long integers of the legacy magic number), floats, strings, tuples, lists,
// dicts, the memo, persistent ids and the few globals a saved tensor needs. Anything else (a
// pickled class instance, code) is refused: a weights file never needs it, and refusing it
// means a file can never make mer run code.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "mer/core/error.h"

namespace mer::interop {

// A malformed, truncated or unsupported pickle. The message says what and where (byte offset);
// callers prefix the file name.
class PickleError : public Error {
 public:
  using Error::Error;
};

struct PickleValue;
using PickleRef = std::shared_ptr<PickleValue>;

// One unpickled value. Containers hold shared references, as Python objects do (a memoised
// dict filled by a later SETITEMS is the same object everywhere it is referenced).
struct PickleValue {
  enum class Kind {
    kNone, kBool, kInt, kBigInt, kFloat, kString, kBytes, kTuple, kList, kDict,
    kGlobal,  // a class or function: text is "module.name"
    kObject,  // the result of calling a global the reader knows (text = the global's name):
              // items are the call's arguments, state what BUILD set on it (or null)
  };
  Kind kind = Kind::kNone;
  bool boolean = false;
  int64_t integer = 0;  // kInt
  double number = 0.0;  // kFloat
  // kString (UTF-8), kBytes, kGlobal ("module.name"), kObject (global's name), kBigInt (the
  // two's-complement little-endian bytes of LONG1/LONG4).
  std::string text;
  std::vector<PickleRef> items;                           // kTuple, kList, kObject arguments
  std::vector<std::pair<PickleRef, PickleRef>> entries;   // kDict, in insertion order
  PickleRef state;                                        // kObject: BUILD's argument

  bool is(Kind k) const { return kind == k; }
  std::string kind_name() const;
};

struct PickleReadOptions {
  // Resolves a persistent id (BINPERSID's argument) to a value; a pickle that uses persistent
  // ids without one is refused.
  std::function<PickleRef(const PickleRef& id)> persistent_load;
  // Globals the reader may call with REDUCE/NEWOBJ ("module.name"); the call becomes a
  // kObject, except collections.OrderedDict, which becomes an ordinary kDict.
  std::vector<std::string> callable_globals;
};

// `text` with every byte outside printable ASCII shown as '?': names read from a damaged file
// go into one-line error messages.
std::string printable(const std::string& text);

// Reads one pickle from `bytes` starting at `*offset` and advances `*offset` past its STOP.
// Throws PickleError on truncation, an unknown opcode or a global outside callable_globals.
PickleRef read_pickle(std::string_view bytes, size_t* offset, const PickleReadOptions& options);

}  // namespace mer::interop
