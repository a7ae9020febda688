#pragma once
// CVA + FPF + AU ("A Novel Approach for Micro-Expression Recognition Incorporating Vertical
// Attention and Position Localization", ICLR 2024 submission; ../shared/docs/methods.md).
//
// Known from the paper and its public code (methods.md), kept here:
//   - Main branch on apex - onset: 3x3 stride-2 conv to 180 channels, 3x3 conv to 128, then
//     four CVA blocks (128 @ S/2, 128 @ S/4, 256 @ S/8, 512 @ S/16), each block's vertical
//     attention multiplied by the previous block's (cva.h).
//   - FPF: a Swin transformer (patch 4, window 7, embed 128, depths 2,2,6, heads 4,8,16) on
//     the onset and on the apex crop (shared weights), the two [512, S/16, S/16] token maps
//     summed into a position map that is added to the main branch's last map.
//   - AU fusion: the 21-AU vector concatenated after the first FC: 512 + 21 -> BN -> ReLU ->
//     128 -> classes.
// Ours (not published): global average pooling before the first FC, a ReLU (and optional
// dropout) between the 128 units and the classifier, grey crops (1 channel) scaled to
// [-0.5, 0.5] for the Swin and (apex - onset) / 255 for the main branch, a 1x1 conv that
// maps the Swin map to the main branch's channels when `width` makes them differ.
//
// Options for CPU runs (published values for a reproduction in brackets): input_size 112
// [224], width 0.25 [1] (every main-branch channel count times width), embed 32 [128],
// heads 1,2,4 [4,8,16]. input_size must keep every Swin stage's grid a multiple of the
// window: 112 and 224 with window 7.
//
// Inputs (`input`): `crops` takes Batch::onset and Batch::face (the aligned onset and apex
// crops of `mer prepare`), area-resized to input_size. `flow` is the stand-in for flow-only
// data (MEGC2019 composite, synthetic): the flow map (3 channels, /255, bilinear upsampling)
// stands in for apex - onset and the face crop (Batch::face) for the FPF input, or, without
// a crop, the magnitude of the centred (u, v) channels. ModelInfo::fit_to_data picks it from
// the data and records it in the run's model options.
//
// AU modes (`au`), recorded in the model options of every run:
//   none      - no AU input.
//   oracle    - the ground-truth AU vector of the annotation sheet (Batch::aus), also at TEST
//               time, as published: an oracle input (the test clip's FACS coding is not known
//               to a recognizer in use).
//   predicted - an AU head (Linear on the first FC's features, sigmoid) trained with a binary
//               cross-entropy aux loss (times au_weight) on the training batches' AUs; its
//               probabilities are fused, never the true AUs, so the test subject's coding is
//               never used.
//
// Explanations: "vertical_attention" [B, S/16] (the last CVA block's attention averaged over
// channels) and, with au=predicted, "au_probability" [B, 21].
#include <vector>

#include "mer/models/cva.h"
#include "mer/models/model.h"
#include "mer/models/swin.h"

namespace mer::models {

struct CVAFPFOptions {
  TORCH_ARG(int64_t, num_classes) = 5;
  TORCH_ARG(int64_t, input_size) = 112;    // [224]
  TORCH_ARG(double, width) = 0.25;         // main-branch channel scale [1]
  TORCH_ARG(std::string, input) = "crops";  // crops | flow (stand-in)
  TORCH_ARG(std::string, au) = "none";      // none | oracle | predicted
  TORCH_ARG(double, au_weight) = 1.0;       // predicted: weight of the AU BCE aux loss
  TORCH_ARG(int64_t, embed) = 32;           // Swin embedding [128]
  TORCH_ARG(std::vector<int64_t>, depths) = std::vector<int64_t>{2, 2, 6};
  TORCH_ARG(std::vector<int64_t>, heads) = std::vector<int64_t>{1, 2, 4};  // [4, 8, 16]
  TORCH_ARG(int64_t, window) = 7;
  TORCH_ARG(double, dropout) = 0.0;         // before the classifier (not published)
  // input=flow: what feeds the FPF. face: Batch::face (required); magnitude: the motion's
  // magnitude; auto: the face crop when the batch carries one, else the magnitude (what runs
  // recorded before the option existed did; new runs record the choice made for the data).
  TORCH_ARG(std::string, fpf) = "auto";

 public:
  void validate() const;  // throws ConfigError
  SwinOptions swin() const;
  int64_t channels(int64_t published) const;  // max(8, round(published * width))
  int64_t main_input_channels() const { return input() == "crops" ? 1 : 3; }
};

class CVAFPFImpl : public ModelImpl {
 public:
  explicit CVAFPFImpl(const CVAFPFOptions& options = {});

  Output forward(const Batch& batch) override;
  int64_t num_classes() const override { return options_.num_classes(); }
  const CVAFPFOptions& options() const { return options_; }

  // The two inputs the model derives from a batch, at input_size: the main branch's
  // [B, 1 or 3, S, S] and the FPF images, each [B, 1, S, S] (two for crops, one stand-in).
  struct Inputs {
    torch::Tensor motion;
    std::vector<torch::Tensor> faces;
  };
  Inputs inputs(const Batch& batch) const;

  torch::nn::Conv2d stem{nullptr}, stem2{nullptr};
  torch::nn::BatchNorm2d stem_bn{nullptr}, stem2_bn{nullptr};
  torch::nn::ModuleList blocks{nullptr};  // four CVABlocks
  Swin fpf{nullptr};
  torch::nn::Conv2d fpf_proj{nullptr};    // only when the Swin's channels differ
  torch::nn::Linear fc1{nullptr}, fc2{nullptr}, classifier{nullptr};
  torch::nn::BatchNorm1d fusion_bn{nullptr};
  torch::nn::Linear au_head{nullptr};     // au=predicted only

 private:
  CVAFPFOptions options_;
};

using CVAFPF = std::shared_ptr<CVAFPFImpl>;


}  // namespace mer::models
