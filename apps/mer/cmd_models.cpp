#include "cmd_models.h"

#include <cstdio>
#include <iostream>

#include "mer/models/registry.h"

namespace mer::cli {

ModelsCommand::ModelsCommand(CLI::App& app) {
  command_ = app.add_subcommand("models", "List the registered models, their options and inputs");
  command_->add_option("model", model_, "only this model");
  command_->add_flag("--json", json_, "print the model specs as JSON");
  command_->footer("Examples: mer models\n          mer models rrrn\n          mer models --json");
}

int ModelsCommand::run() {
  std::vector<const models::ModelSpec*> specs;
  if (model_.empty()) specs = models::model_registry();
  else specs.push_back(&models::find_model(model_));
  if (json_) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto* spec : specs) out.push_back(spec->to_json());
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  for (const auto* spec : specs) {
    std::printf("%s\n  %s\n", spec->name.c_str(), spec->summary.c_str());
    const auto lines = spec->option_help_lines();
    if (!lines.empty()) std::printf("  --model-opt:\n");
    for (const auto& line : lines) std::printf("    %s\n", line.c_str());
    std::string inputs;
    for (const auto& name : spec->inputs_for(spec->resolve_options({})).names()) {
      inputs += (inputs.empty() ? "" : ", ") + name;
    }
    std::printf("  reads (default options): %s\n", inputs.c_str());
    if (!spec->explanations.empty()) {
      std::printf("  explains:\n");
      for (const auto& e : spec->explanations) {
        std::printf("    %s (%s): %s\n", e.name.c_str(),
                    models::explanation_kind_name(e.kind).c_str(), e.description.c_str());
      }
    }
    const auto& t = spec->training;
    std::printf("  training defaults: --epochs %lld (synthetic set %lld) --lr %g --batch-size %lld "
                "--optimizer %s --weight-decay %g --lr-decay %g%s\n\n",
                static_cast<long long>(t.epochs), static_cast<long long>(t.synthetic_epochs), t.lr,
                static_cast<long long>(t.batch_size), t.optimizer.c_str(), t.weight_decay,
                t.lr_decay, spec->fused_cpu_kernel ? "; fused CPU kernel (--backend auto)" : "");
  }
  return 0;
}

}  // namespace mer::cli
