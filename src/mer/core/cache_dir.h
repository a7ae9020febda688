#pragma once
// mer's per-user cache folder, for copies of models that are slow to decode (face/), never for
// results: deleting it costs only speed.
#include <string>

namespace mer {

// $MER_CACHE_DIR, else $XDG_CACHE_HOME/mer, else $HOME/.cache/mer; empty when none of these
// variables is set (then nothing is cached).
std::string mer_cache_dir();

}  // namespace mer
