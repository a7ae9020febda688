#include "cmd_export.h"

#include <cstdio>

#include "mer/interop/weights_exchange.h"

namespace mer::cli {

ExportCommand::ExportCommand(CLI::App& app) {
  command_ = app.add_subcommand(
      "export", "Write a checkpoint's weights as a PyTorch state_dict file (torch.load opens it)");
  auto* c = command_;
  c->add_option("--checkpoint", checkpoint_, "a model.pt of `mer train`, a `mer loso` fold or `mer import`")
      ->required()->check(CLI::ExistingFile);
  c->add_option("--out", out_, "the .pth file to write (parameters and buffers under their PyTorch names)")
      ->required();
  c->footer(
      "Example: mer export --checkpoint models/st/model.pt --out st.pth\n"
      "In Python: net.load_state_dict(torch.load('st.pth')), net built with the model's PyTorch "
      "layout (for ststnet, the authors' official code).");
}

int ExportCommand::run() {
  const auto summary = interop::export_checkpoint_weights(checkpoint_, out_);
  std::printf("wrote %s: %s weights, %lld tensors (%lld values)\n", out_.c_str(), summary.model.c_str(),
              static_cast<long long>(summary.tensors), static_cast<long long>(summary.values));
  return 0;
}

}  // namespace mer::cli
