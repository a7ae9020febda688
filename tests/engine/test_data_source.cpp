// engine/data_source.h: opening data and filling training defaults the way every entry point
// does, with combinations that would be silently ignored refused.
#include <gtest/gtest.h>

#include <filesystem>

#include "mer/core/error.h"
#include "mer/data/prepared_io.h"
#include "mer/engine/data_source.h"
#include "mer/models/registry.h"

namespace fs = std::filesystem;

namespace mer::engine {
namespace {

TEST(DataSource, TheSyntheticSetIsNamedByItsShape) {
  const auto opened = open_dataset(DataSourceOptions().synthetic(
      data::SyntheticOptions().subjects(3).samples_per_subject(4).seed(7)));
  EXPECT_TRUE(opened.synthetic);
  EXPECT_EQ(opened.label, "synthetic(subjects=3,samples=4,size=28,seed=7)");
  EXPECT_EQ(opened.dataset.fold_keys().size(), 3u);
  EXPECT_TRUE(opened.preprocessing.is_null());
}

TEST(DataSource, OptionsWithoutEffectAreRefused) {
  EXPECT_THROW(open_dataset(DataSourceOptions().landmarks("lm.csv")), ConfigError);
  EXPECT_THROW(open_dataset(DataSourceOptions().parts({"casme2"})), ConfigError);
  const auto dir = (fs::temp_directory_path() / "mer_test_data_source").string();
  fs::remove_all(dir);
  data::write_prepared(data::make_synthetic(data::SyntheticOptions().subjects(2).samples_per_subject(3)), dir);
  try {
    open_dataset(DataSourceOptions().path(dir).synthetic_given(true));
    ADD_FAILURE() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("--synth"), std::string::npos) << e.what();
  }
  const auto opened = open_dataset(DataSourceOptions().path(dir).parts({"synth"}));
  EXPECT_FALSE(opened.synthetic);
  EXPECT_EQ(opened.label, dir + " (parts synth)");
  EXPECT_THROW(open_dataset(DataSourceOptions().path(dir + "/missing")), DataError);
  fs::remove_all(dir);
}

TEST(DataSource, TrainingDefaultsAreTheModelsForEverySettingNotGiven) {
  TrainOptions options;
  options.model = "fr";
  options.lr = 0.5;
  apply_training_defaults(options, {"lr"}, /*synthetic=*/false);
  const auto& d = models::find_model("fr").training;
  EXPECT_EQ(options.lr, 0.5);
  EXPECT_EQ(options.epochs, d.epochs);
  EXPECT_EQ(options.batch_size, d.batch_size);
  EXPECT_EQ(options.weight_decay, d.weight_decay);
  options.model = "ststnet";
  apply_training_defaults(options, {}, /*synthetic=*/true);
  EXPECT_EQ(options.epochs, models::find_model("ststnet").training.synthetic_epochs);
}

TEST(DataSource, ModelOptionsParseAndRefuseDuplicates) {
  std::map<std::string, std::string> options;
  parse_model_option("dropout=0.3", options);
  EXPECT_EQ(options.at("dropout"), "0.3");
  EXPECT_THROW(parse_model_option("dropout=0.4", options), ConfigError);
  EXPECT_THROW(parse_model_option("dropout", options), ConfigError);
  EXPECT_THROW(parse_model_option("=1", options), ConfigError);
  EXPECT_TRUE(may_read_crops("rrrn", {}));
  EXPECT_FALSE(may_read_crops("rrrn", {{"visibility", "none"}}));
  EXPECT_FALSE(may_read_crops("ststnet", {}));
  EXPECT_TRUE(may_read_crops("cva-fpf", {}));
  EXPECT_THROW(may_read_crops("ststnet", {{"colour", "blue"}}), ConfigError);
}

}  // namespace
}  // namespace mer::engine
