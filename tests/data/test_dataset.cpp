// data::select_parts: one part of a composite, e.g. CASME II of the MEGC2019 set.
#include <gtest/gtest.h>

#include "mer/core/error.h"
#include "mer/data/dataset.h"
#include "mer/data/synthetic.h"

namespace mer::data {
namespace {

// A two-part composite: the synthetic set with its first subjects renamed into part "other".
Dataset two_parts() {
  Dataset d = make_synthetic(SyntheticOptions().subjects(4).samples_per_subject(5).face_size(16));
  for (auto& s : d.samples) {
    if (s.subject == "s01" || s.subject == "s02") s.dataset = "other";
  }
  return d;
}

TEST(SelectParts, KeepsTheSamplesOfThePartWithTheirFlowsAndClasses) {
  const Dataset d = two_parts();
  const Dataset other = select_parts(d, {"other"});
  EXPECT_EQ(other.parts(), std::vector<std::string>{"other"});
  EXPECT_EQ(other.class_names, d.class_names);
  EXPECT_EQ(other.fold_keys(), (std::vector<std::string>{"other/s01", "other/s02"}));
  int64_t j = 0;
  for (int64_t i = 0; i < d.size(); ++i) {
    if (d.samples[i].dataset != "other") continue;
    ASSERT_LT(j, other.size());
    EXPECT_EQ(other.samples[j].sample, d.samples[i].sample);
    EXPECT_EQ(other.samples[j].label, d.samples[i].label);
    EXPECT_TRUE(torch::equal(other.flows[j], d.flows[i]));
    EXPECT_TRUE(torch::equal(other.faces[j], d.faces[i]));
    ++j;
  }
  EXPECT_EQ(j, other.size());
  other.validate();
  // Both parts = the whole set, same checksum.
  EXPECT_EQ(select_parts(d, {"synth", "other"}).checksum(), d.checksum());
}

TEST(SelectParts, AnUnknownPartNamesThePartsThereAre) {
  const Dataset d = two_parts();
  try {
    select_parts(d, {"casme2"});
    ADD_FAILURE() << "expected DataError";
  } catch (const DataError& e) {
    EXPECT_NE(std::string(e.what()).find("no part 'casme2' (it has other, synth)"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(select_parts(d, {}), DataError);
}

}  // namespace
}  // namespace mer::data
