#pragma once
// Classification metrics with the MEGC definition: UF1 and UAR are computed from the
// confusion matrix pooled over ALL folds (TP/FP/FN summed first), never averaged per fold.
#include <cstdint>
#include <vector>

namespace mer::engine {

struct Metrics {
  int64_t n = 0;
  double uf1 = 0;       // mean over classes present in the ground truth of per-class F1
  double uar = 0;       // mean over classes present in the ground truth of per-class recall
  double accuracy = 0;  // fraction correct
  std::vector<double> f1;      // per class (0 for classes absent from the ground truth)
  std::vector<double> recall;  // per class
  std::vector<std::vector<int64_t>> confusion;  // [true][predicted]
};

// labels, predictions: class indices in [0, num_classes). Classes that never occur in the
// ground truth are left out of the UF1/UAR means (as in MEGC's evaluation script); a class
// that occurs but is never predicted contributes F1 = 0.
Metrics compute_metrics(const std::vector<int64_t>& labels, const std::vector<int64_t>& predictions,
                        int64_t num_classes);

}  // namespace mer::engine
