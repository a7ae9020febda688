#include "mer/face/occlusion.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>

#include "mer/core/error.h"
#include "mer/face/image_io.h"

namespace mer::face {

namespace fs = std::filesystem;

std::string occlusion_kind_name(OcclusionKind kind) {
  switch (kind) {
    case OcclusionKind::kMask: return "mask";
    case OcclusionKind::kGlasses: return "glasses";
    case OcclusionKind::kBlock: return "block";
  }
  return "?";
}

OcclusionKind occlusion_kind_from_name(const std::string& name) {
  for (auto kind : {OcclusionKind::kMask, OcclusionKind::kGlasses, OcclusionKind::kBlock}) {
    if (occlusion_kind_name(kind) == name) return kind;
  }
  throw ConfigError("unknown occlusion kind '" + name + "' (expected mask, glasses or block)");
}

std::vector<double> block_ratio_levels() {
  std::vector<double> levels;
  for (int i = 1; i <= 10; ++i) levels.push_back(0.05 * i);
  return levels;
}

namespace {
bool is_block_level(double ratio) {
  for (double level : block_ratio_levels()) {
    if (std::abs(level - ratio) < 1e-9) return true;
  }
  return false;
}
}  // namespace

void OcclusionOptions::validate() const {
  if (kind_ == OcclusionKind::kBlock && !is_block_level(block_ratio_)) {
    throw ConfigError("block_ratio " + std::to_string(block_ratio_) +
                      ": must be one of 0.05, 0.10, ..., 0.50");
  }
  if (!(mask_width_factor_ > 0.0 && mask_width_factor_ <= 4.0)) {
    throw ConfigError("mask_width_factor must be in (0, 4]");
  }
  if (!(coverage_alpha_ > 0.0 && coverage_alpha_ <= 1.0)) {
    throw ConfigError("coverage_alpha must be in (0, 1]");
  }
}

void FlowOcclusionOptions::validate() const {
  if (boundary_noise_ < 0 || boundary_noise_ > 128) {
    throw ConfigError("boundary_noise must be in 0..128");
  }
}

std::vector<OccluderAsset> load_occluder_assets(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw DataError(dir + ": occluder folder not found (--occluders: a folder with masks/ and glasses/ of RGBA PNGs)");
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    std::string ext = entry.path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
    if (ext == ".png") files.push_back(entry.path().filename().string());
  }
  if (files.empty()) throw DataError(dir + ": no occluder image (*.png) in the folder (--occluders: masks/ and glasses/ of RGBA PNGs)");
  std::sort(files.begin(), files.end());
  std::vector<OccluderAsset> assets;
  for (const auto& name : files) {
    const std::string path = (fs::path(dir) / name).string();
    cv::Mat image = read_image_strict(path, cv::IMREAD_UNCHANGED);
    if (image.depth() == CV_16U) image.convertTo(image, CV_8U, 1.0 / 257.0);
    if (image.type() != CV_8UC4) {
      throw DataError(path + ": occluder image has no alpha channel (RGBA png expected)");
    }
    cv::Mat alpha;
    cv::extractChannel(image, alpha, 3);
    if (cv::countNonZero(alpha) == 0) throw DataError(path + ": occluder image is fully transparent");
    assets.push_back({name, image});
  }
  return assets;
}

SplitMix64 clip_rng(uint64_t seed, const std::string& clip_key) {
  uint64_t hash = 0xcbf29ce484222325ULL;  // FNV-1a: stable across machines and libraries
  for (unsigned char c : clip_key) {
    hash ^= c;
    hash *= 0x100000001b3ULL;
  }
  return SplitMix64(derive_seed(seed, hash));
}

cv::Rect OcclusionPlan::bbox() const {
  if (coverage.empty() || cv::countNonZero(coverage) == 0) return {};
  return cv::boundingRect(coverage);
}

double OcclusionPlan::covered_fraction() const {
  if (coverage.empty()) return 0.0;
  return static_cast<double>(cv::countNonZero(coverage)) / coverage.total();
}

double OcclusionPlan::covered_face_fraction() const {
  if (coverage.empty() || face_box.area() == 0) return 0.0;
  return static_cast<double>(cv::countNonZero(coverage(face_box))) / face_box.area();
}

namespace {

using Pt = cv::Point2f;

float norm(Pt p) { return std::sqrt(p.dot(p)); }

// Distance of p to the line through a and b.
float line_distance(Pt p, Pt a, Pt b) {
  const Pt d = b - a;
  return std::abs(d.x * (p.y - a.y) - d.y * (p.x - a.x)) / norm(d);
}

// The asset's opaque part (alpha bounding box), split into premultiplied colour (CV_32FC3)
// and alpha (CV_32FC1, 0..1).
struct AssetLayers {
  cv::Mat premultiplied, alpha;
};

AssetLayers opaque_part(const OccluderAsset& asset) {
  cv::Mat alpha8;
  cv::extractChannel(asset.bgra, alpha8, 3);
  const cv::Rect box = cv::boundingRect(alpha8);
  cv::Mat bgr;
  cv::cvtColor(asset.bgra(box), bgr, cv::COLOR_BGRA2BGR);
  AssetLayers layers;
  alpha8(box).convertTo(layers.alpha, CV_32F, 1.0 / 255.0);
  bgr.convertTo(layers.premultiplied, CV_32FC3);
  cv::Mat alpha3;
  cv::merge(std::vector<cv::Mat>(3, layers.alpha), alpha3);
  cv::multiply(layers.premultiplied, alpha3, layers.premultiplied);
  return layers;
}

// Warps the columns [col0, col1) of `layers` with the affine map taking src[i] to dst[i]
// and adds them to the accumulators.
void warp_add(const AssetLayers& layers, int col0, int col1, const std::array<Pt, 3>& src,
              const std::array<Pt, 3>& dst, cv::Size size, cv::Mat& premultiplied,
              cv::Mat& alpha) {
  cv::Mat part_colour = cv::Mat::zeros(layers.premultiplied.size(), CV_32FC3);
  cv::Mat part_alpha = cv::Mat::zeros(layers.alpha.size(), CV_32FC1);
  const cv::Range cols(col0, col1);
  layers.premultiplied.colRange(cols).copyTo(part_colour.colRange(cols));
  layers.alpha.colRange(cols).copyTo(part_alpha.colRange(cols));
  const cv::Mat m = cv::getAffineTransform(src.data(), dst.data());
  cv::Mat warped_colour, warped_alpha;
  cv::warpAffine(part_colour, warped_colour, m, size, cv::INTER_LINEAR, cv::BORDER_CONSTANT);
  cv::warpAffine(part_alpha, warped_alpha, m, size, cv::INTER_LINEAR, cv::BORDER_CONSTANT);
  premultiplied += warped_colour;
  alpha += warped_alpha;
}

// Colour and alpha of a plan from premultiplied accumulators.
void finish_layers(OcclusionPlan& plan, cv::Mat premultiplied, cv::Mat alpha) {
  cv::min(alpha, 1.0, alpha);
  cv::Mat safe;
  cv::max(alpha, 1e-6, safe);
  cv::Mat safe3;
  cv::merge(std::vector<cv::Mat>(3, safe), safe3);
  cv::Mat colour;
  cv::divide(premultiplied, safe3, colour);
  colour.convertTo(plan.colour, CV_8UC3);  // saturating
  plan.alpha = alpha;
}

const OccluderAsset& draw_asset(const std::vector<OccluderAsset>& assets, SplitMix64& rng,
                                OcclusionKind kind) {
  if (assets.empty()) {
    throw ConfigError("occlusion " + occlusion_kind_name(kind) + " needs occluder images (--occluders DIR)");
  }
  return assets[rng.below(assets.size())];
}

void plan_mask(OcclusionPlan& plan, const Landmarks& p, const OcclusionOptions& options,
               const std::vector<OccluderAsset>& assets, SplitMix64& rng) {
  const OccluderAsset& asset = draw_asset(assets, rng, plan.kind);
  plan.asset = asset.name;
  const Pt top = p[27] + 0.25f * (p[30] - p[27]);
  const Pt chin = p[8];
  const float length = norm(chin - top);
  if (length < 2.0f) throw DataError("degenerate landmarks: nose-chin line under 2 pixels");
  const Pt d = (chin - top) * (1.0f / length);
  const Pt n(d.y, -d.x);  // perpendicular, towards the image's right for an upright face
  const float factor = static_cast<float>(options.mask_width_factor());
  const float left = factor * line_distance(p[2], top, chin);
  const float right = factor * line_distance(p[14], top, chin);

  const AssetLayers layers = opaque_part(asset);
  const float w = static_cast<float>(layers.alpha.cols), h = static_cast<float>(layers.alpha.rows);
  const int mid_col = layers.alpha.cols / 2;
  const float mid = static_cast<float>(mid_col) - 0.5f;
  cv::Mat premultiplied = cv::Mat::zeros(plan.frame_size, CV_32FC3);
  cv::Mat alpha = cv::Mat::zeros(plan.frame_size, CV_32FC1);
  const Pt tl = top - left * n, tr = top + right * n, br = chin + right * n, bl = chin - left * n;
  warp_add(layers, 0, mid_col, {Pt(-0.5f, -0.5f), Pt(mid, -0.5f), Pt(mid, h - 0.5f)},
           {tl, top, chin}, plan.frame_size, premultiplied, alpha);
  warp_add(layers, mid_col, layers.alpha.cols,
           {Pt(mid, -0.5f), Pt(w - 0.5f, -0.5f), Pt(mid, h - 0.5f)}, {top, tr, chin},
           plan.frame_size, premultiplied, alpha);
  finish_layers(plan, premultiplied, alpha);
  plan.anchors = {tl, top, tr, br, chin, bl};
}

void plan_glasses(OcclusionPlan& plan, const Landmarks& p, const std::vector<OccluderAsset>& assets,
                  SplitMix64& rng) {
  const OccluderAsset& asset = draw_asset(assets, rng, plan.kind);
  plan.asset = asset.name;
  const Pt centre = p[27];
  const float span = norm(p[16] - p[0]);
  if (span < 2.0f) throw DataError("degenerate landmarks: outer jaw points under 2 pixels apart");
  const Pt u = (p[16] - p[0]) * (1.0f / span);
  const Pt v(-u.y, u.x);  // perpendicular, downwards for an upright face
  const float left = (p[0] - centre).dot(u), right = (p[16] - centre).dot(u);
  const Pt brow = 0.5f * (p[19] + p[24]);
  const float up = std::max(1.0f, std::abs((brow - centre).dot(v)));
  const Pt tl = centre + left * u - up * v, tr = centre + right * u - up * v,
           br = centre + right * u + up * v, bl = centre + left * u + up * v;

  const AssetLayers layers = opaque_part(asset);
  const float w = static_cast<float>(layers.alpha.cols), h = static_cast<float>(layers.alpha.rows);
  cv::Mat premultiplied = cv::Mat::zeros(plan.frame_size, CV_32FC3);
  cv::Mat alpha = cv::Mat::zeros(plan.frame_size, CV_32FC1);
  warp_add(layers, 0, layers.alpha.cols,
           {Pt(-0.5f, -0.5f), Pt(w - 0.5f, -0.5f), Pt(-0.5f, h - 0.5f)}, {tl, tr, bl},
           plan.frame_size, premultiplied, alpha);
  finish_layers(plan, premultiplied, alpha);
  plan.anchors = {tl, tr, br, bl};
}

void plan_block(OcclusionPlan& plan, const Landmarks& p, double ratio, SplitMix64& rng) {
  const cv::Rect& box = plan.face_box;
  const double target = std::round(ratio * box.area());
  const int w = std::clamp(static_cast<int>(std::lround(std::sqrt(ratio) * box.width)), 1, box.width);
  const int h = std::clamp(static_cast<int>(std::lround(target / w)), 1, box.height);
  const int x = box.x + static_cast<int>(rng.below(static_cast<uint64_t>(box.width - w + 1)));
  const int y = box.y + static_cast<int>(rng.below(static_cast<uint64_t>(box.height - h + 1)));
  plan.block = cv::Rect(x, y, w, h);
  plan.block_ratio = ratio;
  plan.block_offset = Pt(static_cast<float>(x), static_cast<float>(y)) - p[30];
  plan.colour = cv::Mat::zeros(plan.frame_size, CV_8UC3);
  plan.alpha = cv::Mat::zeros(plan.frame_size, CV_32FC1);
  plan.alpha(plan.block).setTo(1.0);
  const float x0 = static_cast<float>(x), y0 = static_cast<float>(y);
  plan.anchors = {Pt(x0, y0), Pt(x0 + w, y0), Pt(x0 + w, y0 + h), Pt(x0, y0 + h)};
}

}  // namespace

OcclusionPlan plan_occlusion(const Landmarks& onset, cv::Size frame_size,
                             const OcclusionOptions& options,
                             const std::vector<OccluderAsset>& assets, SplitMix64& rng) {
  options.validate();
  if (frame_size.width <= 0 || frame_size.height <= 0) {
    throw DataError("plan_occlusion: empty frame size");
  }
  for (const auto& point : onset) {
    if (!std::isfinite(point.x) || !std::isfinite(point.y)) {
      throw DataError("degenerate landmarks: a point is not finite");
    }
  }
  OcclusionPlan plan;
  plan.kind = options.kind();
  plan.frame_size = frame_size;
  const cv::Rect2f box = bounding_box(onset);
  const int x0 = static_cast<int>(std::floor(box.x)), y0 = static_cast<int>(std::floor(box.y));
  const int x1 = static_cast<int>(std::ceil(box.x + box.width));
  const int y1 = static_cast<int>(std::ceil(box.y + box.height));
  plan.face_box = cv::Rect(x0, y0, x1 - x0, y1 - y0) & cv::Rect(cv::Point(0, 0), frame_size);
  if (plan.face_box.width < 2 || plan.face_box.height < 2) {
    throw DataError("degenerate landmarks: face box inside the frame under 2 pixels");
  }
  switch (options.kind()) {
    case OcclusionKind::kMask: plan_mask(plan, onset, options, assets, rng); break;
    case OcclusionKind::kGlasses: plan_glasses(plan, onset, assets, rng); break;
    case OcclusionKind::kBlock: plan_block(plan, onset, options.block_ratio(), rng); break;
  }
  cv::compare(plan.alpha, options.coverage_alpha() - 1e-6, plan.coverage, cv::CMP_GE);
  return plan;
}

cv::Mat apply_occlusion(const cv::Mat& frame, const OcclusionPlan& plan) {
  if (frame.size() != plan.frame_size) {
    throw DataError("apply_occlusion: frame of " + std::to_string(frame.cols) + "x" +
                    std::to_string(frame.rows) + " for a plan made on " +
                    std::to_string(plan.frame_size.width) + "x" +
                    std::to_string(plan.frame_size.height));
  }
  if (frame.type() != CV_8UC1 && frame.type() != CV_8UC3) {
    throw DataError("apply_occlusion: frame must be 8-bit grey or BGR");
  }
  cv::Mat colour = plan.colour, alpha = plan.alpha;
  if (frame.channels() == 1) {
    cv::cvtColor(plan.colour, colour, cv::COLOR_BGR2GRAY);
  } else {
    cv::merge(std::vector<cv::Mat>(3, plan.alpha), alpha);
  }
  cv::Mat f, c;
  frame.convertTo(f, CV_32F);
  colour.convertTo(c, CV_32F);
  cv::Mat one_minus;
  cv::subtract(cv::Scalar::all(1.0), alpha, one_minus);
  cv::Mat out = f.mul(one_minus) + c.mul(alpha);
  cv::Mat result;
  out.convertTo(result, frame.type());  // rounds and saturates
  return result;
}

cv::Mat resize_coverage(const cv::Mat& coverage, cv::Size size) {
  cv::Mat resized;
  cv::resize(coverage, resized, size, 0, 0, cv::INTER_AREA);
  cv::Mat out;
  cv::compare(resized, 128, out, cv::CMP_GE);
  return out;
}

cv::Scalar channel_median(const cv::Mat& image) {
  MER_CHECK(image.depth() == CV_8U && !image.empty(), "channel_median needs an 8-bit image");
  cv::Scalar median;
  const int channels = image.channels();
  const size_t count = image.total();
  for (int c = 0; c < channels; ++c) {
    std::array<size_t, 256> histogram{};
    for (int r = 0; r < image.rows; ++r) {
      const uint8_t* row = image.ptr<uint8_t>(r);
      for (int x = 0; x < image.cols; ++x) ++histogram[row[x * channels + c]];
    }
    const size_t rank = (count - 1) / 2;  // lower median
    size_t seen = 0;
    for (int v = 0; v < 256; ++v) {
      seen += histogram[static_cast<size_t>(v)];
      if (seen > rank) {
        median[c] = v;
        break;
      }
    }
  }
  return median;
}

cv::Mat occlude_flow_map(const cv::Mat& flow, const cv::Mat& coverage, SplitMix64& rng,
                         const FlowOcclusionOptions& options) {
  options.validate();
  if (flow.type() != CV_8UC3 || coverage.type() != CV_8UC1 || flow.size() != coverage.size()) {
    throw DataError("occlude_flow_map: expected an 8-bit 3-channel map and an 8-bit coverage "
                    "mask of the same size");
  }
  const cv::Scalar median = channel_median(flow);
  const int noise = options.boundary_noise();
  cv::Mat out = flow.clone();
  for (int r = 0; r < flow.rows; ++r) {
    for (int x = 0; x < flow.cols; ++x) {
      if (!coverage.at<uint8_t>(r, x)) continue;
      bool boundary = false;
      const int dr[4] = {-1, 1, 0, 0}, dx[4] = {0, 0, -1, 1};
      for (int k = 0; k < 4; ++k) {
        const int rr = r + dr[k], xx = x + dx[k];
        if (rr < 0 || xx < 0 || rr >= flow.rows || xx >= flow.cols) continue;
        if (!coverage.at<uint8_t>(rr, xx)) boundary = true;
      }
      auto& pixel = out.at<cv::Vec3b>(r, x);
      for (int c = 0; c < 3; ++c) {
        int value = static_cast<int>(median[c]);
        if (boundary && noise > 0) {
          value += static_cast<int>(rng.below(static_cast<uint64_t>(2 * noise + 1))) - noise;
        }
        pixel[c] = static_cast<uint8_t>(std::clamp(value, 0, 255));
      }
    }
  }
  return out;
}

}  // namespace mer::face
