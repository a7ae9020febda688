#include "mer/face/shape_predictor_cache.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <string_view>
#include <vector>

#include "mer/core/atomic_file.h"
#include "mer/core/cache_dir.h"
#include "mer/core/checksum.h"

namespace fs = std::filesystem;

namespace mer::face {

// Named rather than anonymous: Layout, declared in the header, holds these types (an
// anonymous namespace's types in a class with external linkage draw -Wsubobject-linkage in
// unity builds).
namespace predictor_cache_detail {

// dlib::shape_predictor keeps its arrays private and offers only its portable (slow) format.
// An explicit template instantiation may name private members ([temp.spec.general]/6); this
// is the standard way to reach them without changing dlib's header. Reading and writing the
// four members below is all the copy does.
template <typename Tag, typename Tag::type Member>
struct MemberOf {
  friend typename Tag::type member(Tag) { return Member; }
};
struct InitialShape {
  using type = dlib::matrix<float, 0, 1> dlib::shape_predictor::*;
  friend type member(InitialShape);
};
struct Forests {
  using type = std::vector<std::vector<dlib::impl::regression_tree>> dlib::shape_predictor::*;
  friend type member(Forests);
};
struct AnchorIdx {
  using type = std::vector<std::vector<unsigned long>> dlib::shape_predictor::*;
  friend type member(AnchorIdx);
};
struct Deltas {
  using type = std::vector<std::vector<dlib::vector<float, 2>>> dlib::shape_predictor::*;
  friend type member(Deltas);
};
template struct MemberOf<InitialShape, &dlib::shape_predictor::initial_shape>;
template struct MemberOf<Forests, &dlib::shape_predictor::forests>;
template struct MemberOf<AnchorIdx, &dlib::shape_predictor::anchor_idx>;
template struct MemberOf<Deltas, &dlib::shape_predictor::deltas>;

constexpr char kMagic[8] = {'M', 'E', 'R', 'S', 'P', 'C', '3', '\0'};
constexpr char kEnd[8] = {'E', 'N', 'D', 'M', 'S', 'P', 'C', '\0'};

bool little_endian() {
  const uint32_t one = 1;
  uint8_t first = 0;
  std::memcpy(&first, &one, 1);
  return first == 1;
}

// What ties a copy to its source and to this build's layout.
std::string source_stamp(const std::string& model_path) {
  std::error_code ec;
  const auto size = fs::file_size(model_path, ec);
  if (ec) return {};
  const auto mtime = fs::last_write_time(model_path, ec);
  if (ec) return {};
  std::ostringstream stamp;
  stamp << fs::absolute(model_path).lexically_normal().string() << '|' << size << '|'
        << mtime.time_since_epoch().count() << "|ul" << sizeof(unsigned long) << "|f"
        << sizeof(float) << (little_endian() ? "|le" : "|be");
  return stamp.str();
}

// A read-only mapping of a whole file, prefaulted; empty when the file cannot be mapped.
class MappedFile {
 public:
  explicit MappedFile(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    struct stat st {};
    if (::fstat(fd, &st) == 0 && st.st_size > 0) {
      void* data = ::mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ,
                          MAP_PRIVATE | MAP_POPULATE, fd, 0);
      if (data != MAP_FAILED) {
        data_ = data;
        size_ = static_cast<size_t>(st.st_size);
      }
    }
    ::close(fd);
  }
  ~MappedFile() {
    if (data_) ::munmap(data_, size_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  std::string_view bytes() const { return {static_cast<const char*>(data_), size_}; }

 private:
  void* data_ = nullptr;
  size_t size_ = 0;
};

// The copy's layout: fixed-size records at 8-byte aligned offsets, so that the predictor can
// be evaluated where the file is mapped.
//   magic, stamp (u64 length + bytes, padded)
//   u64 points P, levels L, trees T, splits S, leaves V
//   f32 initial_shape[2P]
//   per level: u64 features F, u32 anchor[F], f32 deltas[2F]
//   u64 first_tree[L + 1]
//   TreeRecord[T], SplitRecord[S], f32 leaves[V][2P]
//   end magic
struct TreeRecord {
  uint64_t first_split, splits, first_leaf;  // a tree has splits + 1 leaves
};
struct SplitRecord {
  uint32_t idx1, idx2;
  float thresh;
  uint32_t unused;
};

class Writer {
 public:
  template <typename T>
  void put(const T& value) {
    bytes_.append(reinterpret_cast<const char*>(&value), sizeof(T));
  }
  void put_bytes(const void* data, size_t size) {
    bytes_.append(static_cast<const char*>(data), size);
  }
  void pad() { bytes_.append((8 - bytes_.size() % 8) % 8, '\0'); }
  void put_string(const std::string& s) {
    put<uint64_t>(s.size());
    bytes_.append(s);
    pad();
  }
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
};

// Bounds-checked views into the mapped bytes; any overrun sets failed() and returns empty
// views from then on.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}
  uint64_t get_u64() {
    const auto* p = array<uint64_t>(1);
    return p ? *p : 0;
  }
  // `count` items of T at the current (8-byte aligned) offset, then the offset moves past them
  // and their padding; nullptr for none or on overrun.
  template <typename T>
  const T* array(uint64_t count) {
    if (failed_ || count > (bytes_.size() - at_) / sizeof(T)) {
      failed_ = true;
      return nullptr;
    }
    const T* p = reinterpret_cast<const T*>(bytes_.data() + at_);
    at_ += static_cast<size_t>(count) * sizeof(T);
    at_ = std::min(bytes_.size(), (at_ + 7) / 8 * 8);
    return count ? p : nullptr;
  }
  std::string get_string() {
    const auto n = get_u64();
    const char* p = array<char>(n);
    return p ? std::string(p, n) : std::string();
  }
  bool failed() const { return failed_; }
  bool at_end() const { return at_ == bytes_.size(); }

 private:
  std::string_view bytes_;
  size_t at_ = 0;
  bool failed_ = false;
};

}  // namespace predictor_cache_detail

using namespace predictor_cache_detail;

struct MappedShapePredictor::Layout {
  MappedFile file;
  unsigned long points = 0;
  dlib::matrix<float, 0, 1> initial_shape;
  // dlib's own types for what its feature extraction takes (a few thousand values).
  std::vector<std::vector<unsigned long>> anchor_idx;
  std::vector<std::vector<dlib::vector<float, 2>>> deltas;
  std::vector<uint64_t> first_tree;  // per level, and the end
  const TreeRecord* trees = nullptr;
  const SplitRecord* splits = nullptr;
  const float* leaves = nullptr;
  explicit Layout(const std::string& path) : file(path) {}
};

MappedShapePredictor::MappedShapePredictor(std::unique_ptr<Layout> layout)
    : layout_(std::move(layout)) {}

MappedShapePredictor::~MappedShapePredictor() = default;

std::unique_ptr<MappedShapePredictor> MappedShapePredictor::open(const std::string& cache_path,
                                                                 const std::string& model_path) {
  const std::string stamp = source_stamp(model_path);
  if (cache_path.empty() || stamp.empty()) return nullptr;
  auto layout = std::make_unique<Layout>(cache_path);
  auto& l = *layout;
  if (l.file.bytes().empty()) return nullptr;
  Reader r(l.file.bytes());
  const char* magic = r.array<char>(sizeof kMagic);
  if (!magic || std::memcmp(magic, kMagic, sizeof kMagic) != 0) return nullptr;
  if (r.get_string() != stamp) return nullptr;
  const uint64_t points = r.get_u64(), levels = r.get_u64(), trees = r.get_u64(),
                 splits = r.get_u64(), leaves = r.get_u64();
  const uint64_t file_size = l.file.bytes().size();
  if (r.failed() || points == 0 || points > 100000 || levels > file_size || trees > file_size ||
      splits > file_size || leaves > file_size / (2 * points)) {
    return nullptr;  // counts no file of this size can hold (and no product can overflow)
  }
  l.points = static_cast<unsigned long>(points);
  const float* initial = r.array<float>(2 * points);
  if (!initial) return nullptr;
  l.initial_shape.set_size(static_cast<long>(2 * points));
  std::memcpy(&l.initial_shape(0), initial, sizeof(float) * 2 * points);
  l.anchor_idx.resize(levels);
  l.deltas.resize(levels);
  for (uint64_t level = 0; level < levels; ++level) {
    const uint64_t features = r.get_u64();
    if (features > file_size) return nullptr;
    const uint32_t* anchors = r.array<uint32_t>(features);
    const float* deltas = r.array<float>(2 * features);
    if (r.failed()) return nullptr;
    for (uint64_t i = 0; i < features; ++i) {
      if (anchors[i] >= points) return nullptr;
      l.anchor_idx[level].push_back(anchors[i]);
      l.deltas[level].emplace_back(deltas[2 * i], deltas[2 * i + 1]);
    }
  }
  const uint64_t* first_tree = r.array<uint64_t>(levels + 1);
  l.trees = r.array<TreeRecord>(trees);
  l.splits = r.array<SplitRecord>(splits);
  l.leaves = r.array<float>(leaves * 2 * points);
  const char* end = r.array<char>(sizeof kEnd);
  if (r.failed() || !r.at_end() || !end || std::memcmp(end, kEnd, sizeof kEnd) != 0) return nullptr;
  // Every index the evaluation follows must be in range: a copy that passed the checks above
  // but was written by another program must not make it read outside the file.
  l.first_tree.assign(first_tree, first_tree + levels + 1);
  if (l.first_tree.front() != 0 || l.first_tree.back() != trees) return nullptr;
  for (uint64_t level = 0; level < levels; ++level) {
    const uint64_t begin = l.first_tree[level], stop = l.first_tree[level + 1];
    if (begin > stop || stop > trees) return nullptr;
    const uint64_t features = l.anchor_idx[level].size();
    for (uint64_t t = begin; t < stop; ++t) {
      const TreeRecord& tree = l.trees[t];
      if (tree.first_split > splits || tree.splits > splits - tree.first_split) return nullptr;
      if (tree.first_leaf > leaves || tree.splits + 1 > leaves - tree.first_leaf) return nullptr;
      for (uint64_t k = 0; k < tree.splits; ++k) {
        const SplitRecord& split = l.splits[tree.first_split + k];
        if (split.idx1 >= features || split.idx2 >= features) return nullptr;
      }
    }
  }
  return std::unique_ptr<MappedShapePredictor>(new MappedShapePredictor(std::move(layout)));
}

unsigned long MappedShapePredictor::num_parts() const { return layout_->points; }

dlib::full_object_detection MappedShapePredictor::operator()(
    const dlib::cv_image<unsigned char>& image, const dlib::rectangle& rect) const {
  // dlib::shape_predictor::operator(), step for step, on the mapped records: the same float
  // operations in the same order, so the same points.
  using namespace dlib::impl;
  const auto& l = *layout_;
  const size_t side = 2 * static_cast<size_t>(l.points);
  dlib::matrix<float, 0, 1> current_shape = l.initial_shape;
  float* shape = &current_shape(0);
  std::vector<float> feature_pixel_values;
  for (size_t level = 0; level + 1 < l.first_tree.size(); ++level) {
    extract_feature_pixel_values(image, rect, current_shape, l.initial_shape, l.anchor_idx[level],
                                 l.deltas[level], feature_pixel_values);
    for (uint64_t t = l.first_tree[level]; t < l.first_tree[level + 1]; ++t) {
      const TreeRecord& tree = l.trees[t];
      const SplitRecord* splits = l.splits + tree.first_split;
      uint64_t i = 0;
      while (i < tree.splits) {
        const SplitRecord& split = splits[i];
        i = feature_pixel_values[split.idx1] - feature_pixel_values[split.idx2] > split.thresh
                ? 2 * i + 1
                : 2 * i + 2;
      }
      const float* leaf = l.leaves + (tree.first_leaf + (i - tree.splits)) * side;
      for (size_t k = 0; k < side; ++k) shape[k] += leaf[k];
    }
  }
  const dlib::point_transform_affine tform_to_img = unnormalizing_tform(rect);
  std::vector<dlib::point> parts(l.points);
  for (unsigned long i = 0; i < parts.size(); ++i) parts[i] = tform_to_img(location(current_shape, i));
  return dlib::full_object_detection(rect, parts);
}

void MappedShapePredictor::to_dlib(dlib::shape_predictor& predictor) const {
  const auto& l = *layout_;
  const long side = static_cast<long>(2 * l.points);
  std::vector<std::vector<dlib::impl::regression_tree>> forests(l.first_tree.size() - 1);
  for (size_t level = 0; level < forests.size(); ++level) {
    for (uint64_t t = l.first_tree[level]; t < l.first_tree[level + 1]; ++t) {
      const TreeRecord& record = l.trees[t];
      dlib::impl::regression_tree tree;
      for (uint64_t k = 0; k < record.splits; ++k) {
        const SplitRecord& s = l.splits[record.first_split + k];
        dlib::impl::split_feature split;
        split.idx1 = s.idx1;
        split.idx2 = s.idx2;
        split.thresh = s.thresh;
        tree.splits.push_back(split);
      }
      for (uint64_t k = 0; k <= record.splits; ++k) {
        dlib::matrix<float, 0, 1> leaf(side);
        std::memcpy(&leaf(0), l.leaves + (record.first_leaf + k) * static_cast<uint64_t>(side),
                    sizeof(float) * static_cast<size_t>(side));
        tree.leaf_values.push_back(std::move(leaf));
      }
      forests[level].push_back(std::move(tree));
    }
  }
  predictor.*member(InitialShape{}) = l.initial_shape;
  predictor.*member(Forests{}) = std::move(forests);
  predictor.*member(AnchorIdx{}) = l.anchor_idx;
  predictor.*member(Deltas{}) = l.deltas;
}

std::string shape_predictor_cache_path(const std::string& model_path) {
  const std::string dir = mer_cache_dir();
  if (dir.empty()) return {};
  Fnv1a hash;
  const auto absolute = fs::absolute(model_path).lexically_normal().string();
  hash.update(absolute.data(), absolute.size());
  return (fs::path(dir) / ("shape-predictor-" + fs::path(model_path).stem().string() + "-" +
                           hash.hex().substr(0, 12) + ".bin"))
      .string();
}

bool write_shape_predictor_cache(const std::string& cache_path, const std::string& model_path,
                                 const dlib::shape_predictor& predictor) {
  const std::string stamp = source_stamp(model_path);
  if (cache_path.empty() || stamp.empty()) return false;
  const auto& initial_shape = predictor.*member(InitialShape{});
  const auto& forests = predictor.*member(Forests{});
  const auto& anchor_idx = predictor.*member(AnchorIdx{});
  const auto& deltas = predictor.*member(Deltas{});
  const uint64_t side = static_cast<uint64_t>(initial_shape.size());
  if (side == 0 || side % 2 != 0 || anchor_idx.size() != forests.size() ||
      deltas.size() != forests.size()) {
    return false;
  }
  std::vector<uint64_t> first_tree = {0};
  std::vector<TreeRecord> trees;
  std::vector<SplitRecord> splits;
  uint64_t leaves = 0;
  for (const auto& forest : forests) {
    for (const auto& tree : forest) {
      if (tree.leaf_values.size() != tree.splits.size() + 1) return false;
      trees.push_back({splits.size(), tree.splits.size(), leaves});
      for (const auto& split : tree.splits) {
        if (split.idx1 > UINT32_MAX || split.idx2 > UINT32_MAX) return false;
        splits.push_back({static_cast<uint32_t>(split.idx1), static_cast<uint32_t>(split.idx2),
                          split.thresh, 0});
      }
      for (const auto& leaf : tree.leaf_values) {
        if (static_cast<uint64_t>(leaf.size()) != side) return false;
      }
      leaves += tree.leaf_values.size();
    }
    first_tree.push_back(trees.size());
  }
  Writer w;
  w.put_bytes(kMagic, sizeof kMagic);
  w.put_string(stamp);
  for (uint64_t v : {side / 2, static_cast<uint64_t>(forests.size()),
                     static_cast<uint64_t>(trees.size()), static_cast<uint64_t>(splits.size()),
                     leaves}) {
    w.put(v);
  }
  w.put_bytes(&initial_shape(0), sizeof(float) * side);
  w.pad();
  for (size_t level = 0; level < forests.size(); ++level) {
    w.put<uint64_t>(anchor_idx[level].size());
    for (unsigned long a : anchor_idx[level]) {
      if (a > UINT32_MAX) return false;
      w.put(static_cast<uint32_t>(a));
    }
    w.pad();
    for (const auto& d : deltas[level]) {
      w.put(d.x());
      w.put(d.y());
    }
    w.pad();
  }
  w.put_bytes(first_tree.data(), sizeof(uint64_t) * first_tree.size());
  w.put_bytes(trees.data(), sizeof(TreeRecord) * trees.size());
  w.put_bytes(splits.data(), sizeof(SplitRecord) * splits.size());
  for (const auto& forest : forests) {
    for (const auto& tree : forest) {
      for (const auto& leaf : tree.leaf_values) w.put_bytes(&leaf(0), sizeof(float) * side);
    }
  }
  w.put_bytes(kEnd, sizeof kEnd);
  try {
    fs::create_directories(fs::path(cache_path).parent_path());
    write_file_atomic(cache_path, w.bytes());
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace mer::face
