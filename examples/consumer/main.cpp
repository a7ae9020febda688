// Lists mer's models, then trains STSTNet under LOSO on two folds of the built-in synthetic
// set and prints the pooled UF1: the library calls behind `mer models` and `mer loso`.
#include <cstdio>
#include <filesystem>

#include "mer/data/synthetic.h"
#include "mer/engine/loso.h"
#include "mer/models/registry.h"

int main(int argc, char** argv) {
  for (const auto* spec : mer::models::model_registry()) {
    std::printf("%-10s %s\n", spec->name.c_str(), spec->summary.c_str());
  }
  const auto dataset = mer::data::make_synthetic(mer::data::SyntheticOptions().subjects(6));
  mer::engine::LosoOptions options;
  options.train.model = "ststnet";
  options.train.epochs = 3;
  options.folds = "2";
  options.quiet = true;
  const auto out = argc > 1 ? std::filesystem::path(argv[1])
                            : std::filesystem::temp_directory_path() / "mer_consumer_run";
  const auto result = mer::engine::run_loso(dataset, options, out.string());
  std::printf("ststnet on 2 synthetic folds: UF1 %.3f (run in %s)\n",
              result.summary.at("uf1").get<double>(), out.c_str());
  return 0;
}
