#include "mer/engine/metrics.h"

#include "mer/core/error.h"

namespace mer::engine {

Metrics compute_metrics(const std::vector<int64_t>& labels, const std::vector<int64_t>& predictions,
                        int64_t num_classes) {
  MER_CHECK(labels.size() == predictions.size(), "labels and predictions differ in length");
  MER_CHECK(num_classes >= 2, "need at least two classes");
  Metrics m;
  m.n = static_cast<int64_t>(labels.size());
  m.confusion.assign(num_classes, std::vector<int64_t>(num_classes, 0));
  int64_t correct = 0;
  for (size_t i = 0; i < labels.size(); ++i) {
    MER_CHECK(labels[i] >= 0 && labels[i] < num_classes, "label out of range");
    MER_CHECK(predictions[i] >= 0 && predictions[i] < num_classes, "prediction out of range");
    ++m.confusion[labels[i]][predictions[i]];
    correct += labels[i] == predictions[i];
  }
  m.f1.assign(num_classes, 0.0);
  m.recall.assign(num_classes, 0.0);
  int present = 0;
  for (int64_t c = 0; c < num_classes; ++c) {
    int64_t tp = m.confusion[c][c], fp = 0, fn = 0;
    for (int64_t o = 0; o < num_classes; ++o) {
      if (o == c) continue;
      fp += m.confusion[o][c];
      fn += m.confusion[c][o];
    }
    if (tp + fn == 0) continue;  // class absent from the ground truth
    ++present;
    m.f1[c] = 2.0 * tp / static_cast<double>(2 * tp + fp + fn);
    m.recall[c] = tp / static_cast<double>(tp + fn);
    m.uf1 += m.f1[c];
    m.uar += m.recall[c];
  }
  if (present > 0) {
    m.uf1 /= present;
    m.uar /= present;
  }
  m.accuracy = m.n > 0 ? static_cast<double>(correct) / m.n : 0.0;
  return m;
}

}  // namespace mer::engine
