#include "mer/data/dataset_cache.h"

#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "mer/core/checksum.h"
#include "mer/data/archive_file.h"
#include "mer/core/atomic_file.h"
#include "mer/core/error.h"

namespace fs = std::filesystem;

namespace mer::data {
namespace {

constexpr const char* kFormat = "mer-dataset-cache";
constexpr int kFormatVersion = 1;

// The optional tensors, by the archive key they are stored under.
struct NamedTensor {
  const char* key;
  torch::Tensor Dataset::*member;
};
constexpr NamedTensor kOptionalTensors[] = {{"faces", &Dataset::faces},
                                            {"onsets", &Dataset::onsets},
                                            {"landmarks", &Dataset::landmarks},
                                            {"aus", &Dataset::aus}};

// Hash of everything a cache holds, in a fixed order: a truncated or edited file fails it.
std::string content_hash(const std::string& meta, const torch::Tensor& flows_u8,
                         const Dataset& dataset) {
  Fnv1a hash;
  hash.update(meta);
  const auto add = [&](const char* key, const torch::Tensor& t) {
    hash.update(std::string(key) + (t.defined() ? ":" : ":none"));
    if (!t.defined()) return;
    const auto c = t.contiguous();
    for (const auto size : c.sizes()) hash.update(std::to_string(size) + ",");
    hash.update(c.data_ptr(), c.numel() * c.element_size());
  };
  add("flows", flows_u8);
  for (const auto& named : kOptionalTensors) add(named.key, dataset.*named.member);
  return hash.hex();
}

nlohmann::json meta_json(const Dataset& dataset) {
  nlohmann::json samples = nlohmann::json::array();
  for (const auto& s : dataset.samples) {
    samples.push_back({s.dataset, s.subject, s.sample, s.label, s.emotion, s.flow_path, s.face_path});
  }
  return {{"format", kFormat},
          {"version", kFormatVersion},
          {"root", dataset.root},
          {"class_names", dataset.class_names},
          {"samples", samples}};
}

torch::Tensor string_to_tensor(const std::string& text) {
  auto t = torch::empty({static_cast<int64_t>(text.size())}, torch::kUInt8);
  std::copy(text.begin(), text.end(), reinterpret_cast<char*>(t.data_ptr<uint8_t>()));
  return t;
}

std::string tensor_to_string(const torch::Tensor& t) {
  const auto c = t.to(torch::kUInt8).contiguous();
  const auto* p = reinterpret_cast<const char*>(c.data_ptr<uint8_t>());
  return std::string(p, p + c.numel());
}

}  // namespace

bool is_dataset_cache(const std::string& path) {
  const fs::path p(path);
  return p.extension() == kDatasetCacheExtension && fs::is_regular_file(p);
}

void write_dataset_cache(const Dataset& dataset, const std::string& file) {
  dataset.validate();
  const auto flows = dataset.flows.contiguous();
  if (!torch::equal(flows, flows.round().clamp(0, 255))) {
    throw DataError(file + ": the flows hold values other than the integers 0..255 of prepared "
                    "flow images; a cache stores those only");
  }
  const auto flows_u8 = flows.to(torch::kUInt8);
  const std::string meta = meta_json(dataset).dump();

  torch::serialize::OutputArchive archive;
  archive.write("meta", string_to_tensor(meta));
  archive.write("content_hash", string_to_tensor(content_hash(meta, flows_u8, dataset)));
  archive.write("flows", flows_u8);
  for (const auto& named : kOptionalTensors) {
    const auto& t = dataset.*named.member;
    if (t.defined()) archive.write(named.key, t.contiguous().cpu());
  }
  const fs::path target(file);
  if (target.has_parent_path()) {
    std::error_code ec;
    fs::create_directories(target.parent_path(), ec);
    if (ec) throw IoError(file + ": cannot create its folder: " + io_failure_reason(ec.value()));
  }
  save_archive_with_trailer_atomic(archive, file);
}

namespace {

Dataset read_dataset_cache_checked(const std::string& file);

}  // namespace

Dataset read_dataset_cache(const std::string& file) {
  if (!fs::is_regular_file(file)) throw DataError(file + ": no such dataset cache");
  // LibTorch parses the archive: a damaged one may fail there with any exception (an
  // allocation of a size read from the damaged file, a malformed record), not only c10::Error.
  try {
    return read_dataset_cache_checked(file);
  } catch (const Error&) {
    throw;
  } catch (const c10::Error& e) {
    const std::string message = e.what_without_backtrace();
    throw DataError(file + ": not a readable dataset cache (" + message.substr(0, message.find('\n')) +
                    "); write it again with `mer cache`");
  } catch (const std::exception& e) {
    throw DataError(file + ": not a readable dataset cache (" + e.what() +
                    "); write it again with `mer cache`");
  }
}

namespace {

Dataset read_dataset_cache_checked(const std::string& file) {
  // Before LibTorch sees it: its loader can crash on a damaged archive.
  try {
    verify_archive_trailer(file);
  } catch (const DataError& e) {
    throw DataError(std::string(e.what()) + "; write it again with `mer cache`");
  }
  torch::serialize::InputArchive archive;
  try {
    archive.load_from(file);
  } catch (const c10::Error& e) {
    throw DataError(file + ": not a readable LibTorch archive (" + e.what_without_backtrace() +
                    "); write it again with `mer cache`");
  }
  torch::Tensor meta_t, hash_t, flows_u8;
  if (!archive.try_read("meta", meta_t) || !archive.try_read("content_hash", hash_t) ||
      !archive.try_read("flows", flows_u8)) {
    throw DataError(file + ": not a mer dataset cache (no meta, content_hash or flows entry)");
  }
  const std::string meta_text = tensor_to_string(meta_t);
  nlohmann::json meta;
  try {
    meta = nlohmann::json::parse(meta_text);
  } catch (const std::exception& e) {
    throw DataError(file + ": unreadable cache metadata (" + e.what() + ")");
  }
  if (meta.value("format", "") != kFormat) throw DataError(file + ": not a mer dataset cache");
  if (meta.value("version", 0) != kFormatVersion) {
    throw DataError(file + ": cache format version " + std::to_string(meta.value("version", 0)) +
                    ", this mer reads version " + std::to_string(kFormatVersion) +
                    "; write it again with `mer cache`");
  }
  Dataset dataset;
  try {
    dataset.root = meta.at("root").get<std::string>();
    dataset.class_names = meta.at("class_names").get<std::vector<std::string>>();
    for (const auto& row : meta.at("samples")) {
      SampleInfo s;
      s.dataset = row.at(0).get<std::string>();
      s.subject = row.at(1).get<std::string>();
      s.sample = row.at(2).get<std::string>();
      s.label = row.at(3).get<int64_t>();
      s.emotion = row.at(4).get<std::string>();
      s.flow_path = row.at(5).get<std::string>();
      s.face_path = row.at(6).get<std::string>();
      dataset.samples.push_back(std::move(s));
    }
  } catch (const std::exception& e) {
    throw DataError(file + ": malformed cache metadata (" + e.what() + ")");
  }
  for (const auto& named : kOptionalTensors) {
    torch::Tensor t;
    if (archive.try_read(named.key, t)) dataset.*named.member = t;
  }
  if (flows_u8.scalar_type() != torch::kUInt8) {
    throw DataError(file + ": cache flows are not uint8");
  }
  if (content_hash(meta_text, flows_u8, dataset) != tensor_to_string(hash_t)) {
    throw DataError(file + ": content does not match the checksum recorded when it was written "
                    "(truncated or altered); write it again with `mer cache`");
  }
  dataset.flows = flows_u8.to(torch::kFloat32);
  try {
    dataset.validate();
  } catch (const DataError& e) {
    throw DataError(file + ": " + e.what());
  }
  return dataset;
}

}  // namespace

}  // namespace mer::data
