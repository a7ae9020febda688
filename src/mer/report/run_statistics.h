#pragma once
// Uncertainty of LOSO results, with the subject as the unit of independence: samples of one
// subject share a face, a session and a fold model, so resampling samples would understate
// the spread. A percentile bootstrap draws subjects with replacement and recomputes UF1, UAR
// and accuracy from the pooled confusion matrix of the drawn subjects (the MEGC definition,
// as engine::compute_metrics). Pure C++ and deterministic for a seed (SplitMix64).
#include <torch/arg.h>

#include <cstdint>
#include <string>
#include <vector>

#include "mer/report/run_reader.h"

namespace mer::report {

// Confusion counts [true][predicted], K x K.
using Confusion = std::vector<std::vector<int64_t>>;

// A run's predictions split by LOSO subject.
struct SubjectConfusions {
  std::vector<std::string> subjects;  // sorted subject keys ("casme2/sub01")
  std::vector<Confusion> confusion;   // per subject, aligned with `subjects`
};
SubjectConfusions subject_confusions(const RunRecord& run);

// Restricted (and reordered) to `subjects`; a subject the run lacks gets zero counts.
std::vector<Confusion> aligned_confusions(const SubjectConfusions& table,
                                          const std::vector<std::string>& subjects);

struct PooledMetrics {
  double uf1 = 0, uar = 0, accuracy = 0;
};
// UF1 / UAR over the classes present in the ground truth; equals engine::compute_metrics on
// the same predictions.
PooledMetrics pooled_metrics(const Confusion& confusion);

struct Interval {
  double estimate = 0, low = 0, high = 0;
};
struct MetricIntervals {
  Interval uf1, uar, accuracy;
};

struct BootstrapOptions {
  TORCH_ARG(int64_t, resamples) = 2000;
  TORCH_ARG(uint64_t, seed) = 1;
  TORCH_ARG(double, level) = 0.95;  // two-sided coverage of the percentile interval

 public:
  BootstrapOptions() = default;
  void validate() const;  // throws ConfigError
};

// `runs[r][s]`: run r's confusion on subject s; every run covers the same subjects in the same
// order (seeds of one configuration, aligned_confusions). Estimate: the mean over runs of each
// run's pooled metric (for one run, exactly its summary.json figure). Interval: each resample
// draws the subjects once, pools every run over that draw, and takes the mean over runs.
MetricIntervals bootstrap_group(const std::vector<std::vector<Confusion>>& runs,
                                const BootstrapOptions& options = {});

// Paired difference a - b of two groups on the same subjects (same order): every resample
// uses one draw of subjects for both, so fold-to-fold difficulty cancels. a and b identical
// gives exactly 0 (estimate and bounds).
MetricIntervals paired_difference(const std::vector<std::vector<Confusion>>& a,
                                  const std::vector<std::vector<Confusion>>& b,
                                  const BootstrapOptions& options = {});

// Quantile q in [0, 1] with linear interpolation between order statistics (numpy's default).
double percentile(std::vector<double> values, double q);

// Sample mean and standard deviation (n - 1; 0 for one value).
double mean_of(const std::vector<double>& values);
double sd_of(const std::vector<double>& values);

}  // namespace mer::report
