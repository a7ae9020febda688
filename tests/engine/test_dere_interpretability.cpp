// The acceptance check of DeRe-GRL's interpretability (issue 6): on the synthetic set, where
// the motion that generates each sample is known, the component with the strongest action in
// the explanations of honest LOSO test predictions is the generating one.
//
// "Generating" is read two ways, both printed:
//   - per sample: the facial part whose landmarks the sample's expression moves most
//     (data::synthetic_dominant_parts). The issue asks for >= 80%, asserted here. Measured
//     82.7% (191/231) with the defaults (ADM max pooling, session 6); the map-weighted mean
//     pooling of sessions 2-5 gave 79.2%, because it dilutes a component whose motion is at a
//     few of its points (a lip corner among 12 lip points) while the truth counts the most
//     moving point (docs/benchmarks.md);
//   - per class: the part of the class's primary action (data::synthetic_primary_parts:
//     negative and surprise the brows, positive the mouth). A sample may not show its class's
//     primary action, or show another action more strongly, so this one cannot reach 100% even
//     for a perfect explanation (the per-sample truth agrees with it on 180 of the 231 samples);
//     measured 80.5%, asserted >= 77% (a regression guard).
// The default synthetic set and the model's synthetic training defaults, as `mer loso --model
// dere-grl` runs them (about 1.5 minutes of CPU).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>

#include "mer/data/synthetic.h"
#include "mer/engine/loso.h"
#include "mer/models/registry.h"

namespace fs = std::filesystem;

namespace mer::engine {

TEST(DeReGRLInterpretability, StrongestComponentIsTheGeneratingPart) {
  const data::SyntheticOptions synthetic;
  const auto dataset = data::make_synthetic(synthetic);
  const auto dominant = data::synthetic_dominant_parts(synthetic);
  const auto primary = data::synthetic_primary_parts();
  ASSERT_EQ(dominant.size(), static_cast<size_t>(dataset.size()));
  const auto dir = fs::temp_directory_path() / ("mer_test_dere_interp_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  LosoOptions options;
  const auto& defaults = models::find_model("dere-grl").training;
  options.train.model = "dere-grl";
  options.train.epochs = defaults.synthetic_epochs;
  options.train.lr = defaults.lr;
  options.train.batch_size = defaults.batch_size;
  options.train.optimizer = defaults.optimizer;
  options.train.weight_decay = defaults.weight_decay;
  options.quiet = true;
  options.threads = 2;
  options.train.model_options =
      models::resolve_model_options("dere-grl", {}, models::DataTraits{});
  ASSERT_EQ(options.train.model_options.at("adm_pool"), "max");
  const auto result = run_loso(dataset, options, dir.string());
  ASSERT_TRUE(result.failures.empty());

  std::ifstream in(dir / "explain.json");
  const auto explain = nlohmann::json::parse(in);
  std::vector<std::string> group;
  for (const auto& c : explain.at("model_info").at("components")) group.push_back(c.at("group"));
  int64_t by_sample = 0, by_class = 0, total = 0, truths_agree = 0;
  std::map<int64_t, std::pair<int64_t, int64_t>> per_class;  // label -> (agree, total)
  for (const auto& s : explain.at("samples")) {
    const auto action = s.at("explain").at("component_action").get<std::vector<double>>();
    const auto strongest =
        group.at(static_cast<size_t>(std::max_element(action.begin(), action.end()) - action.begin()));
    const auto index = static_cast<size_t>(s.at("index").get<int64_t>());
    const auto label = s.at("label").get<int64_t>();
    const auto& class_part = primary.at(static_cast<size_t>(label));
    by_sample += strongest == dominant[index];
    by_class += strongest == class_part;
    truths_agree += dominant[index] == class_part;
    per_class[label].first += strongest == dominant[index];
    ++per_class[label].second;
    ++total;
  }
  ASSERT_EQ(total, dataset.size());
  const double sample_share = static_cast<double>(by_sample) / static_cast<double>(total);
  const double class_share = static_cast<double>(by_class) / static_cast<double>(total);
  std::cout << "[ interpretability ] UF1 " << result.summary["uf1"]
            << "; strongest component in the part the sample's expression moves most: "
            << by_sample << "/" << total << " = " << sample_share;
  for (const auto& [label, counts] : per_class) {
    std::cout << " (" << dataset.class_names[static_cast<size_t>(label)] << " " << counts.first
              << "/" << counts.second << ")";
  }
  std::cout << "; in the part of the class's primary action: " << by_class << "/" << total
            << " = " << class_share << " (the two truths agree on " << truths_agree << ")\n";
  EXPECT_GE(sample_share, 0.80);
  EXPECT_GE(class_share, 0.77);
  fs::remove_all(dir);
}

TEST(DeReGRLInterpretability, GroundTruthOfTheSyntheticSet) {
  // The class's primary part is the dominant one for most samples, never for all.
  const data::SyntheticOptions synthetic;
  const auto dataset = data::make_synthetic(synthetic);
  const auto dominant = data::synthetic_dominant_parts(synthetic);
  const auto primary = data::synthetic_primary_parts();
  EXPECT_EQ(primary, (std::vector<std::string>{"brows", "mouth", "brows"}));
  int64_t agree = 0;
  for (int64_t i = 0; i < dataset.size(); ++i) {
    agree += dominant[static_cast<size_t>(i)] ==
             primary[static_cast<size_t>(dataset.samples[static_cast<size_t>(i)].label)];
  }
  EXPECT_EQ(agree, 180);
  EXPECT_EQ(dataset.size(), 231);
}

}  // namespace mer::engine
