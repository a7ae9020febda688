#include "cmd_cache.h"

#include <cstdio>
#include <filesystem>

#include "mer/core/error.h"
#include "mer/data/dataset_cache.h"
#include "mer/data/prepared_io.h"

namespace mer::cli {

CacheCommand::CacheCommand(CLI::App& app) {
  command_ = app.add_subcommand(
      "cache",
      "Decode a prepared dataset once into one file (.pt) that `--data` takes instead of the "
      "folder, also in a build without OpenCV (e.g. on a GPU machine)");
  auto* c = command_;
  c->add_option("--data", data_, "prepared dataset folder")->required()->check(CLI::ExistingDirectory);
  c->add_option("--landmarks", landmarks_,
                "landmarks file to include (default DATA/landmarks.csv when present)")
      ->check(CLI::ExistingFile);
  c->add_option("--crop-side", crop_side_, "side the face and onset crops are stored at")
      ->capture_default_str()->check(CLI::Range(8, 1024));
  c->add_option("--out", out_, "cache file to write (name ending in .pt)")->required();
  c->footer(
      "Example: mer cache --data data/casme2-5class --out data/casme2-5class.pt\n"
      "         mer loso --model cva-fpf --data data/casme2-5class.pt --device cuda");
}

int CacheCommand::run() {
  if (std::filesystem::path(out_).extension() != data::kDatasetCacheExtension) {
    throw ConfigError("--out " + out_ + ": a dataset cache file name must end in " +
                      data::kDatasetCacheExtension);
  }
  const auto dataset = data::read_prepared(
      data_, data::PreparedReadOptions().landmarks_file(landmarks_).crops(true).crop_side(crop_side_));
  data::write_dataset_cache(dataset, out_);
  const auto have = [](const torch::Tensor& t) { return t.defined() ? "yes" : "no"; };
  std::printf("wrote %s: %lld samples of %zu folds, flows %lldx%lld, face crops %s, onset crops "
              "%s, landmarks %s, AUs %s (%.1f MB); data checksum %s\n",
              out_.c_str(), static_cast<long long>(dataset.size()), dataset.fold_keys().size(),
              static_cast<long long>(dataset.flow_side()),
              static_cast<long long>(dataset.flow_side()), have(dataset.faces),
              have(dataset.onsets), have(dataset.landmarks), have(dataset.aus),
              std::filesystem::file_size(out_) / 1e6, dataset.checksum().c_str());
  return 0;
}

}  // namespace mer::cli
