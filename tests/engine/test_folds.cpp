#include <gtest/gtest.h>

#include <set>

#include "mer/core/error.h"
#include "mer/engine/folds.h"
#include "engine_fixtures.h"

namespace mer::engine {

TEST(Folds, OneFoldPerDatasetSubjectPairAndEverySampleTestedOnce) {
  // Two parts share the subject name "s1": they are different people, so different folds.
  const auto dataset = testing_fixtures::tiny_dataset({{"a", "s1", 3}, {"a", "s2", 2}, {"b", "s1", 4}});
  const auto folds = make_loso_folds(dataset);
  ASSERT_EQ(folds.size(), 3u);
  EXPECT_EQ(folds[0].key, "a/s1");
  EXPECT_EQ(folds[2].key, "b/s1");
  EXPECT_NO_THROW(check_fold_invariants(dataset, folds, true));
  for (const auto& fold : folds) {
    EXPECT_EQ(fold.test.size() + fold.train.size(), static_cast<size_t>(dataset.size()));
    for (auto i : fold.train) EXPECT_NE(dataset.samples[i].fold_key(), fold.key);
    for (auto i : fold.test) EXPECT_EQ(dataset.samples[i].fold_key(), fold.key);
  }
}

TEST(Folds, InnerValidationSubjectsComeFromTrainingSubjectsOnly) {
  const auto dataset = testing_fixtures::tiny_dataset(
      {{"a", "s1", 2}, {"a", "s2", 2}, {"a", "s3", 2}, {"a", "s4", 2}, {"a", "s5", 2}});
  FoldOptions options;
  options.validation_fraction = 0.3;
  const auto folds = make_loso_folds(dataset, options);
  EXPECT_NO_THROW(check_fold_invariants(dataset, folds, true));
  for (const auto& fold : folds) {
    ASSERT_FALSE(fold.validation.empty());
    EXPECT_EQ(fold.validation_subjects.size(), 1u);  // 30% of 4 training subjects, rounded
    std::set<std::string> val_keys;
    for (auto i : fold.validation) val_keys.insert(dataset.samples[i].fold_key());
    EXPECT_EQ(val_keys.count(fold.key), 0u);
    for (auto i : fold.train) EXPECT_EQ(val_keys.count(dataset.samples[i].fold_key()), 0u);
  }
  // Deterministic.
  const auto again = make_loso_folds(dataset, options);
  for (size_t f = 0; f < folds.size(); ++f) EXPECT_EQ(folds[f].validation, again[f].validation);
}

TEST(Folds, InvariantCheckCatchesLeakage) {
  const auto dataset = testing_fixtures::tiny_dataset({{"a", "s1", 2}, {"a", "s2", 2}});
  auto folds = make_loso_folds(dataset);
  folds[0].train.push_back(folds[0].test[0]);
  EXPECT_THROW(check_fold_invariants(dataset, folds, true), Error);
  folds = make_loso_folds(dataset);
  folds.pop_back();
  EXPECT_THROW(check_fold_invariants(dataset, folds, true), Error);
  EXPECT_NO_THROW(check_fold_invariants(dataset, folds, false));
}

TEST(Folds, SelectBySpec) {
  const auto dataset = testing_fixtures::tiny_dataset({{"a", "s1", 1}, {"a", "s2", 1}, {"b", "x", 1}});
  const auto folds = make_loso_folds(dataset);
  EXPECT_EQ(select_folds(folds, "").size(), 3u);
  EXPECT_EQ(select_folds(folds, "2").size(), 2u);
  const auto picked = select_folds(folds, "b/x,a/s1");
  ASSERT_EQ(picked.size(), 2u);
  EXPECT_EQ(picked[0].key, "b/x");
  EXPECT_EQ(picked[1].index, 0);
  EXPECT_THROW(select_folds(folds, "0"), ConfigError);
  EXPECT_THROW(select_folds(folds, "4"), ConfigError);
  EXPECT_THROW(select_folds(folds, "a/nobody"), ConfigError);
}

TEST(Folds, NeedTwoSubjects) {
  const auto dataset = testing_fixtures::tiny_dataset({{"a", "s1", 3}});
  EXPECT_THROW(make_loso_folds(dataset), DataError);
}

}  // namespace mer::engine

namespace mer::engine {

// Leave one database out: one fold per dataset part; its inner validation subjects come from
// the other parts' subjects only.
TEST(Folds, GroupedByDatasetHoldOutWholePartsAndValidateOnTrainingSubjects) {
  const auto dataset = testing_fixtures::tiny_dataset({{"a", "s1", 3}, {"a", "s2", 2}, {"b", "s1", 4},
                                                       {"b", "s2", 2}, {"c", "s9", 3}, {"c", "s8", 2}});
  FoldOptions options;
  options.group_by = Grouping::kDataset;
  options.validation_fraction = 0.3;
  const auto folds = make_loso_folds(dataset, options);
  ASSERT_EQ(folds.size(), 3u);
  EXPECT_EQ(folds[0].key, "a");
  EXPECT_EQ(folds[2].key, "c");
  EXPECT_EQ(group_keys(dataset, Grouping::kDataset), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_NO_THROW(check_fold_invariants(dataset, folds, true, Grouping::kDataset));
  for (const auto& fold : folds) {
    for (auto i : fold.test) EXPECT_EQ(dataset.samples[i].dataset, fold.key);
    for (const auto* set : {&fold.train, &fold.validation}) {
      for (auto i : *set) EXPECT_NE(dataset.samples[i].dataset, fold.key);
    }
    ASSERT_EQ(fold.validation_subjects.size(), 1u);  // 30% of 4 training subjects, rounded
    EXPECT_NE(fold.validation_subjects[0].rfind(fold.key + "/", 0), 0u);
    EXPECT_EQ(fold.test.size() + fold.train.size() + fold.validation.size(),
              static_cast<size_t>(dataset.size()));
  }
  // A subject fold checked as a part fold breaks the invariants (the test group differs).
  EXPECT_THROW(check_fold_invariants(dataset, make_loso_folds(dataset), true, Grouping::kDataset),
               Error);
  const auto one_part = testing_fixtures::tiny_dataset({{"a", "s1", 3}, {"a", "s2", 3}});
  try {
    make_loso_folds(one_part, options);
    FAIL() << "expected DataError";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("at least two dataset parts; the data has 1 (a)"),
              std::string::npos) << e.what();
  }
  EXPECT_THROW(parse_grouping("person"), ConfigError);
}

}  // namespace mer::engine
