#pragma once
// Versions of mer and of every artifact it writes. A reader rejects a version it does not
// know rather than guess (style.md, rule 5).

namespace mer {

inline constexpr const char* kVersion = "0.1.0";

// Prepared-dataset folder (labels.csv + files); version 1 is the layout of the MEGC2019
// composite distribution, so it carries no version file of its own.
inline constexpr int kPreparedDatasetVersion = 1;
// Fold checkpoints (.pt archives with a "mer_checkpoint_version" entry).
inline constexpr int kCheckpointVersion = 1;
// summary.json and fold result files.
inline constexpr int kResultsVersion = 1;

}  // namespace mer
