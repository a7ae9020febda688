#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <set>

#include "mer/core/error.h"
#include "mer/data/synthetic.h"
#include "mer/engine/tune.h"

namespace mer::engine {
namespace {

const data::Dataset& small_synthetic() {
  static const data::Dataset dataset =
      data::make_synthetic(data::SyntheticOptions().subjects(6).samples_per_subject(6).face_size(0));
  return dataset;
}

TuneOptions quick_tune() {
  TuneOptions o;
  o.train.epochs = 2;
  o.train.batch_size = 16;
  o.train.lr = 1e-3;
  o.quiet = true;
  o.threads = 2;
  o.test_folds = "2";
  o.inner_folds = 2;
  o.space = {parse_search_dimension("lr=1e-3,3e-3", "ststnet"),
             parse_search_dimension("dropout=0.2,0.5", "ststnet")};
  return o;
}

std::string refusal_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(not refused)";
}

}  // namespace

// The acceptance test of the search's honesty: replace the test subjects' maps and labels by
// anything else and every candidate's score, and so the choice, stay identical.
TEST(Tune, TestSubjectsNeverReachTheSearch) {
  const auto& clean = small_synthetic();
  auto options = quick_tune();
  const auto a = run_tune(clean, options);
  ASSERT_EQ(a.candidates.size(), 4u);
  ASSERT_EQ(a.test_folds, (std::vector<std::string>{"synth/s01", "synth/s02"}));
  EXPECT_EQ(a.development_subjects.size(), 4u);
  for (const auto& subject : a.development_subjects) {
    EXPECT_EQ(std::count(a.test_folds.begin(), a.test_folds.end(), subject), 0) << subject;
  }
  data::Dataset tampered = clean;
  tampered.flows = clean.flows.clone();
  for (int64_t i = 0; i < clean.size(); ++i) {
    if (clean.samples[i].subject != "s01" && clean.samples[i].subject != "s02") continue;
    tampered.flows[i].copy_(255.0f - clean.flows[i]);
    tampered.samples[i].label = (clean.samples[i].label + 1) % 3;
  }
  const auto b = run_tune(tampered, options);
  EXPECT_EQ(a.chosen, b.chosen);
  EXPECT_EQ(a.candidates[a.chosen].settings, b.candidates[b.chosen].settings);
  for (size_t c = 0; c < a.candidates.size(); ++c) {
    EXPECT_EQ(a.candidates[c].settings, b.candidates[c].settings);
    EXPECT_EQ(a.candidates[c].metrics.confusion, b.candidates[c].metrics.confusion) << c;
  }
  // The pooled inner validation covers every development sample once per candidate.
  EXPECT_EQ(a.candidates[0].metrics.n, static_cast<int64_t>(std::count_if(
      clean.samples.begin(), clean.samples.end(),
      [](const data::SampleInfo& s) { return s.subject != "s01" && s.subject != "s02"; })));
  // The results say what was chosen and how to run the LOSO with it on the same test folds.
  EXPECT_EQ(a.json["chosen"]["settings"], a.candidates[a.chosen].settings);
  EXPECT_EQ(a.json["candidates"].size(), 4u);
  EXPECT_NE(a.loso_command.find("--folds 2"), std::string::npos) << a.loso_command;
  EXPECT_NE(a.loso_command.find("--model-opt dropout=" + a.candidates[a.chosen].settings.at("dropout")),
            std::string::npos) << a.loso_command;
  // ... and its chosen values as flags, in the order of the space.
  const auto& settings = a.candidates[a.chosen].settings;
  EXPECT_EQ(a.chosen_flags, (std::vector<std::string>{"--lr", settings.at("lr"), "--model-opt",
                                                      "dropout=" + settings.at("dropout")}));
  EXPECT_EQ(a.json["chosen"]["flags"], nlohmann::json(a.chosen_flags));
  const auto table = format_tune_table(a);
  EXPECT_NE(table.find("mer loso"), std::string::npos) << table;
}

TEST(Tune, RandomSearchDrawsTheBudgetWithoutRepeatsAndTheSameForTheSameSeed) {
  auto options = quick_tune();
  options.space = {parse_search_dimension("epochs=1,2", "ststnet"),
                   parse_search_dimension("batch_size=8,16,32", "ststnet")};
  options.search = "random";
  options.budget = 3;
  const auto a = run_tune(small_synthetic(), options);
  ASSERT_EQ(a.candidates.size(), 3u);
  std::set<std::map<std::string, std::string>> seen;
  for (const auto& c : a.candidates) EXPECT_TRUE(seen.insert(c.settings).second);
  const auto b = run_tune(small_synthetic(), options);
  for (size_t c = 0; c < 3; ++c) EXPECT_EQ(a.candidates[c].settings, b.candidates[c].settings);
  options.search = "grid";
  options.budget = 5;
  EXPECT_NE(refusal_of([&] { run_tune(small_synthetic(), options); }).find("the grid has 6 candidates"),
            std::string::npos);
}

TEST(Tune, SpaceIsCheckedAgainstTheModelContractAndTrainingSettings) {
  EXPECT_EQ(parse_search_dimension("dropout=0.50,0.3", "ststnet").values,
            (std::vector<std::string>{"0.5", "0.3"}));
  EXPECT_TRUE(parse_search_dimension("dropout=0.5", "ststnet").model_option);
  EXPECT_EQ(parse_search_dimension("batch-size=8", "ststnet").name, "batch_size");
  EXPECT_EQ(parse_search_dimension("attention=none,both", "fr").values.size(), 2u);
  struct Case {
    std::string item, model, expected;
  };
  const std::vector<Case> cases = {
      {"colour=red", "ststnet", "--space colour=red: 'colour' is neither a training setting"},
      {"colour=red", "ststnet", "an option of model ststnet (dropout)"},
      {"dropout=1.5", "ststnet", "--space dropout=1.5: "},
      {"attention=some", "fr", "--space attention=some: "},
      {"lr=abc", "ststnet", "'abc' is not a finite number"},
      {"lr=0", "ststnet", "lr must be > 0"},
      {"epochs=2.5", "ststnet", "epochs must be an integer"},
      {"optimizer=lion", "ststnet", "must be adam, adamw or sgd"},
      {"lr=1e-3,0.001", "ststnet", "given twice"},
      {"lr", "ststnet", "expected name=value1,value2"},
      {"lr=1e-3,", "ststnet", "an empty value"},
  };
  for (const auto& c : cases) {
    const auto why = refusal_of([&] { parse_search_dimension(c.item, c.model); });
    EXPECT_NE(why.find(c.expected), std::string::npos) << c.item << ": " << why;
  }
  auto options = quick_tune();
  options.test_folds = "";
  EXPECT_NE(refusal_of([&] { run_tune(small_synthetic(), options); }).find("--folds"), std::string::npos);
  options = quick_tune();
  options.train.protocol = Protocol::kOracle;
  EXPECT_NE(refusal_of([&] { run_tune(small_synthetic(), options); }).find("oracle"), std::string::npos);
  options = quick_tune();
  options.test_folds = "5";
  EXPECT_NE(refusal_of([&] { run_tune(small_synthetic(), options); }).find("too few"), std::string::npos);
  options = quick_tune();
  options.space.push_back(options.space.front());
  EXPECT_NE(refusal_of([&] { run_tune(small_synthetic(), options); }).find("given twice"),
            std::string::npos);
}

}  // namespace mer::engine
