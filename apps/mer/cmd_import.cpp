#include "cmd_import.h"

#include <cstdio>

#include "mer/engine/data_source.h"

namespace mer::cli {

ImportCommand::ImportCommand(CLI::App& app) {
  command_ = app.add_subcommand(
      "import", "Make a mer checkpoint from a PyTorch state_dict file (torch.save, zip or legacy "
                "format), checking every name and shape against the model");
  auto* c = command_;
  options_.model = "ststnet";
  c->add_option("--model", options_.model, "model name (see `mer models`)")->capture_default_str();
  c->add_option("--weights", options_.weights, "the .pth/.pt file torch.save wrote (a state_dict)")
      ->required()->check(CLI::ExistingFile);
  c->add_option("--out", out_, "the checkpoint to write (model.pt)")->required();
  c->add_option("--model-opt", model_opts_, "model option key=value the weights were trained with (repeatable)");
  c->add_option("--classes", options_.class_names,
                "class names in the order of the logits (comma-separated; default: negative,positive,surprise)")
      ->delimiter(',');
  c->add_option("--input-size", options_.input_size, "side of the flow maps the model reads")
      ->capture_default_str()->check(CLI::Range(int64_t{8}, int64_t{4096}));
  c->add_option("--crop-side", options_.crop_side,
                "side of the face/onset crops, for models that read them (0: flow-only data)")
      ->capture_default_str()->check(CLI::Range(int64_t{0}, int64_t{4096}));
  c->footer(
      "Example: mer import --model ststnet --weights ststnet.pth --out models/st/model.pt\n"
      "Then: mer predict --checkpoint models/st/model.pt --clip FRAMES/sub01/EP02_01f");
}

int ImportCommand::run() {
  for (const auto& item : model_opts_) engine::parse_model_option(item, options_.model_options);
  const auto summary = interop::import_weights(options_, out_);
  if (!summary.options_line.empty()) std::printf("%s\n", summary.options_line.c_str());
  std::printf("wrote %s: %s, %zu classes, input %lld, weights from %s\n", out_.c_str(),
              options_.model.c_str(), summary.meta.at("class_names").size(),
              static_cast<long long>(options_.input_size), options_.weights.c_str());
  return 0;
}

}  // namespace mer::cli
