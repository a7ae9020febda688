#pragma once
// `mer landmarks`: the 68 facial landmarks of every face crop of a prepared dataset (dlib),
// written as the landmarks file that landmark models read.
#include "command.h"
#include "mer/face/crop_landmarks.h"

namespace mer::cli {

class LandmarksCommand : public Command {
 public:
  explicit LandmarksCommand(CLI::App& app);
  int run() override;

 private:
  std::string data_, out_, model_ = face::kDefaultLandmarkModel;
  int jobs_ = 1;
};

}  // namespace mer::cli
