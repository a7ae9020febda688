#include "mer/report/run_statistics.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "mer/core/error.h"
#include "mer/core/rng.h"

namespace mer::report {

SubjectConfusions subject_confusions(const RunRecord& run) {
  const auto k = run.class_names().size();
  std::map<std::string, Confusion> by_subject;
  for (const auto& p : run.predictions) {
    auto& c = by_subject[p.subject_key()];
    if (c.empty()) c.assign(k, std::vector<int64_t>(k, 0));
    ++c[static_cast<size_t>(p.label)][static_cast<size_t>(p.prediction)];
  }
  SubjectConfusions out;
  for (auto& [key, c] : by_subject) {
    out.subjects.push_back(key);
    out.confusion.push_back(std::move(c));
  }
  return out;
}

std::vector<Confusion> aligned_confusions(const SubjectConfusions& table,
                                          const std::vector<std::string>& subjects) {
  const size_t k = table.confusion.empty() ? 0 : table.confusion.front().size();
  std::vector<Confusion> out;
  out.reserve(subjects.size());
  for (const auto& key : subjects) {
    const auto it = std::lower_bound(table.subjects.begin(), table.subjects.end(), key);
    if (it != table.subjects.end() && *it == key) {
      out.push_back(table.confusion[static_cast<size_t>(it - table.subjects.begin())]);
    } else {
      out.emplace_back(k, std::vector<int64_t>(k, 0));
    }
  }
  return out;
}

PooledMetrics pooled_metrics(const Confusion& c) {
  // The arithmetic of engine::compute_metrics, in the same order, so that the figures agree
  // to the last bit with summary.json.
  const size_t k = c.size();
  PooledMetrics m;
  int64_t n = 0, correct = 0;
  int present = 0;
  for (size_t t = 0; t < k; ++t) {
    int64_t tp = c[t][t], fp = 0, fn = 0;
    for (size_t o = 0; o < k; ++o) {
      n += c[t][o];
      if (o == t) continue;
      fp += c[o][t];
      fn += c[t][o];
    }
    correct += tp;
    if (tp + fn == 0) continue;
    ++present;
    m.uf1 += 2.0 * tp / static_cast<double>(2 * tp + fp + fn);
    m.uar += tp / static_cast<double>(tp + fn);
  }
  if (present > 0) {
    m.uf1 /= present;
    m.uar /= present;
  }
  m.accuracy = n > 0 ? static_cast<double>(correct) / n : 0.0;
  return m;
}

void BootstrapOptions::validate() const {
  if (resamples_ < 1) throw ConfigError("bootstrap: resamples must be >= 1");
  if (!(level_ > 0 && level_ < 1)) throw ConfigError("bootstrap: level must be in (0, 1)");
}

double percentile(std::vector<double> values, double q) {
  MER_CHECK(!values.empty(), "percentile of no values");
  std::sort(values.begin(), values.end());
  const double h = (static_cast<double>(values.size()) - 1) * std::clamp(q, 0.0, 1.0);
  const auto lo = static_cast<size_t>(std::floor(h));
  const size_t hi = std::min(lo + 1, values.size() - 1);
  // Equal neighbours give that value exactly (no rounding from the interpolation).
  if (values[lo] == values[hi]) return values[lo];
  return values[lo] + (h - static_cast<double>(lo)) * (values[hi] - values[lo]);
}

double mean_of(const std::vector<double>& v) {
  if (v.empty()) return 0.0;
  double s = 0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

double sd_of(const std::vector<double>& v) {
  if (v.size() < 2) return 0.0;
  const double m = mean_of(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / static_cast<double>(v.size() - 1));
}

namespace {

using Group = std::vector<std::vector<Confusion>>;

void check_group(const Group& g, const char* what) {
  MER_CHECK(!g.empty(), std::string("bootstrap: no runs in ") + what);
  for (const auto& run : g) {
    MER_CHECK(run.size() == g.front().size(),
              std::string("bootstrap: runs of ") + what + " cover different numbers of subjects");
    MER_CHECK(!run.empty(), std::string("bootstrap: a run of ") + what + " has no subjects");
  }
}

// Mean over the group's runs of each run's metrics on the confusion pooled with `weights`
// (how often each subject was drawn).
PooledMetrics group_metrics(const Group& g, const std::vector<int64_t>& weights) {
  PooledMetrics mean;
  for (const auto& run : g) {
    const size_t k = run.front().size();
    Confusion pooled(k, std::vector<int64_t>(k, 0));
    for (size_t s = 0; s < run.size(); ++s) {
      if (weights[s] == 0) continue;
      for (size_t t = 0; t < k; ++t) {
        for (size_t p = 0; p < k; ++p) pooled[t][p] += weights[s] * run[s][t][p];
      }
    }
    const auto m = pooled_metrics(pooled);
    mean.uf1 += m.uf1;
    mean.uar += m.uar;
    mean.accuracy += m.accuracy;
  }
  const double n = static_cast<double>(g.size());
  mean.uf1 /= n;
  mean.uar /= n;
  mean.accuracy /= n;
  return mean;
}

// One bootstrap over subjects of f(weights) -> metrics; estimate from all weights 1.
template <typename F>
MetricIntervals bootstrap(size_t subjects, const BootstrapOptions& options, F&& f) {
  options.validate();
  const auto full = f(std::vector<int64_t>(subjects, 1));
  std::vector<double> uf1, uar, acc;
  uf1.reserve(static_cast<size_t>(options.resamples()));
  uar.reserve(uf1.capacity());
  acc.reserve(uf1.capacity());
  SplitMix64 rng(options.seed());
  std::vector<int64_t> weights(subjects);
  for (int64_t r = 0; r < options.resamples(); ++r) {
    std::fill(weights.begin(), weights.end(), 0);
    for (size_t i = 0; i < subjects; ++i) ++weights[rng.below(subjects)];
    const auto m = f(weights);
    uf1.push_back(m.uf1);
    uar.push_back(m.uar);
    acc.push_back(m.accuracy);
  }
  const double lo = (1.0 - options.level()) / 2, hi = 1.0 - lo;
  const auto interval = [&](double estimate, const std::vector<double>& v) {
    return Interval{estimate, percentile(v, lo), percentile(v, hi)};
  };
  return {interval(full.uf1, uf1), interval(full.uar, uar), interval(full.accuracy, acc)};
}

}  // namespace

MetricIntervals bootstrap_group(const Group& runs, const BootstrapOptions& options) {
  check_group(runs, "the group");
  return bootstrap(runs.front().size(), options,
                   [&](const std::vector<int64_t>& w) { return group_metrics(runs, w); });
}

MetricIntervals paired_difference(const Group& a, const Group& b,
                                  const BootstrapOptions& options) {
  check_group(a, "the first group");
  check_group(b, "the second group");
  MER_CHECK(a.front().size() == b.front().size(),
            "paired difference: the groups cover different subjects");
  return bootstrap(a.front().size(), options, [&](const std::vector<int64_t>& w) {
    const auto ma = group_metrics(a, w), mb = group_metrics(b, w);
    return PooledMetrics{ma.uf1 - mb.uf1, ma.uar - mb.uar, ma.accuracy - mb.accuracy};
  });
}

}  // namespace mer::report
