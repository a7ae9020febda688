#include "mer/face/shape_predictor_cache.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <string_view>
#include <vector>

#include "mer/core/atomic_file.h"
#include "mer/core/cache_dir.h"
#include "mer/core/checksum.h"
#include "mer/core/parallel.h"

namespace fs = std::filesystem;

namespace mer::face {

namespace {

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

constexpr char kMagic[8] = {'M', 'E', 'R', 'S', 'P', 'C', '2', '\0'};
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

class Writer {
 public:
  template <typename T>
  void put(const T& value) {
    bytes_.append(reinterpret_cast<const char*>(&value), sizeof(T));
  }
  void put_bytes(const void* data, size_t size) {
    bytes_.append(static_cast<const char*>(data), size);
  }
  void put_string(const std::string& s) {
    put<uint64_t>(s.size());
    bytes_.append(s);
  }
  const std::string& bytes() const { return bytes_; }

 private:
  std::string bytes_;
};

// Reads with bounds checks; any overrun sets failed() and returns zeros from then on.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : bytes_(bytes) {}
  template <typename T>
  T get() {
    T value{};
    get_bytes(&value, sizeof(T));
    return value;
  }
  void get_bytes(void* out, size_t size) {
    if (failed_ || size > bytes_.size() - at_) {
      failed_ = true;
      std::memset(out, 0, size);
      return;
    }
    std::memcpy(out, bytes_.data() + at_, size);
    at_ += size;
  }
  // A count of items of `item_size` bytes that the remaining bytes can hold.
  uint64_t get_count(size_t item_size) {
    const auto n = get<uint64_t>();
    if (item_size > 0 && n > (bytes_.size() - at_) / item_size) failed_ = true;
    return failed_ ? 0 : n;
  }
  // The next `size` bytes, not copied.
  std::string_view get_view(uint64_t size) {
    if (failed_ || size > bytes_.size() - at_) {
      failed_ = true;
      return {};
    }
    const auto view = bytes_.substr(at_, size);
    at_ += size;
    return view;
  }
  std::string get_string() {
    const auto n = get_count(1);
    std::string s(n, '\0');
    get_bytes(s.data(), n);
    return s;
  }
  bool failed() const { return failed_; }
  bool at_end() const { return at_ == bytes_.size(); }

 private:
  std::string_view bytes_;
  size_t at_ = 0;
  bool failed_ = false;
};

// One forest (a level of the cascade) as the copy stores it.
std::string forest_bytes_of(const std::vector<dlib::impl::regression_tree>& forest) {
  Writer w;
  w.put<uint64_t>(forest.size());
  for (const auto& tree : forest) {
    w.put<uint64_t>(tree.splits.size());
    for (const auto& split : tree.splits) {
      w.put(split.idx1);
      w.put(split.idx2);
      w.put(split.thresh);
    }
    w.put<uint64_t>(tree.leaf_values.size());
    for (const auto& leaf : tree.leaf_values) {
      w.put<uint64_t>(static_cast<uint64_t>(leaf.size()));
      if (leaf.size() > 0) {
        w.put_bytes(&leaf(0), sizeof(float) * static_cast<size_t>(leaf.size()));
      }
    }
  }
  return w.bytes();
}

// Reads what forest_bytes_of wrote; false unless `bytes` hold exactly one well-formed forest.
bool read_forest(std::string_view bytes, std::vector<dlib::impl::regression_tree>& forest) {
  Reader r(bytes);
  forest.resize(r.get_count(sizeof(uint64_t)));
  for (auto& tree : forest) {
    tree.splits.resize(r.get_count(2 * sizeof(unsigned long) + sizeof(float)));
    for (auto& split : tree.splits) {
      split.idx1 = r.get<unsigned long>();
      split.idx2 = r.get<unsigned long>();
      split.thresh = r.get<float>();
    }
    tree.leaf_values.resize(r.get_count(sizeof(uint64_t)));
    for (auto& leaf : tree.leaf_values) {
      leaf.set_size(static_cast<long>(r.get_count(sizeof(float))));
      if (leaf.size() > 0) r.get_bytes(&leaf(0), sizeof(float) * static_cast<size_t>(leaf.size()));
    }
  }
  return !r.failed() && r.at_end();
}

}  // namespace

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

bool read_shape_predictor_cache(const std::string& cache_path, const std::string& model_path,
                                dlib::shape_predictor& predictor) {
  const std::string stamp = source_stamp(model_path);
  if (cache_path.empty() || stamp.empty()) return false;
  // Mapped rather than read: no zero-filled buffer to fault in and copy into, which is most of
  // the time a read takes for a file this size.
  const MappedFile file(cache_path);
  if (file.bytes().empty()) return false;
  Reader r(file.bytes());
  char magic[8];
  r.get_bytes(magic, sizeof magic);
  if (r.failed() || std::memcmp(magic, kMagic, sizeof magic) != 0) return false;
  if (r.get_string() != stamp) return false;

  dlib::matrix<float, 0, 1> initial_shape;
  initial_shape.set_size(static_cast<long>(r.get_count(sizeof(float))));
  r.get_bytes(&initial_shape(0), sizeof(float) * static_cast<size_t>(initial_shape.size()));

  // The forests (the cascade's levels, nearly all of the bytes) are stored one after another
  // with their sizes up front, so that they are read on every core: most of the time goes into
  // faulting in the memory of their leaves, which the threads do side by side.
  std::vector<std::vector<dlib::impl::regression_tree>> forests(r.get_count(sizeof(uint64_t)));
  std::vector<std::string_view> forest_bytes(forests.size());
  {
    std::vector<uint64_t> sizes(forests.size());
    for (auto& size : sizes) size = r.get<uint64_t>();
    for (size_t i = 0; i < sizes.size(); ++i) {
      const uint64_t size = r.failed() ? 0 : sizes[i];
      forest_bytes[i] = r.get_view(size);
    }
  }
  if (r.failed()) return false;
  std::vector<char> forest_ok(forests.size(), 0);
  parallel_chunks(static_cast<int64_t>(forests.size()), 0, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      forest_ok[static_cast<size_t>(i)] =
          read_forest(forest_bytes[static_cast<size_t>(i)], forests[static_cast<size_t>(i)]);
    }
  });
  for (char ok : forest_ok) {
    if (!ok) return false;
  }
  std::vector<std::vector<unsigned long>> anchor_idx(r.get_count(sizeof(uint64_t)));
  for (auto& anchors : anchor_idx) {
    anchors.resize(r.get_count(sizeof(unsigned long)));
    r.get_bytes(anchors.data(), sizeof(unsigned long) * anchors.size());
  }
  std::vector<std::vector<dlib::vector<float, 2>>> deltas(r.get_count(sizeof(uint64_t)));
  for (auto& level : deltas) {
    level.resize(r.get_count(2 * sizeof(float)));
    for (auto& d : level) {
      d.x() = r.get<float>();
      d.y() = r.get<float>();
    }
  }
  char end[8];
  r.get_bytes(end, sizeof end);
  if (r.failed() || !r.at_end() || std::memcmp(end, kEnd, sizeof end) != 0) return false;
  // What dlib's predictor indexes must be in range: a copy that passed every check above but
  // was built by another program must not make it read out of bounds.
  const auto points = static_cast<unsigned long>(initial_shape.size() / 2);
  if (initial_shape.size() == 0 || initial_shape.size() % 2 != 0) return false;
  if (anchor_idx.size() != forests.size() || deltas.size() != forests.size()) return false;
  for (size_t level = 0; level < forests.size(); ++level) {
    const size_t features = anchor_idx[level].size();
    if (deltas[level].size() != features) return false;
    for (unsigned long a : anchor_idx[level]) {
      if (a >= points) return false;
    }
    for (const auto& tree : forests[level]) {
      if (tree.leaf_values.size() != tree.splits.size() + 1) return false;
      for (const auto& split : tree.splits) {
        if (split.idx1 >= features || split.idx2 >= features) return false;
      }
      for (const auto& leaf : tree.leaf_values) {
        if (leaf.size() != initial_shape.size()) return false;
      }
    }
  }
  predictor.*member(InitialShape{}) = std::move(initial_shape);
  predictor.*member(Forests{}) = std::move(forests);
  predictor.*member(AnchorIdx{}) = std::move(anchor_idx);
  predictor.*member(Deltas{}) = std::move(deltas);
  return true;
}

bool write_shape_predictor_cache(const std::string& cache_path, const std::string& model_path,
                                 const dlib::shape_predictor& predictor) {
  const std::string stamp = source_stamp(model_path);
  if (cache_path.empty() || stamp.empty()) return false;
  const auto& initial_shape = predictor.*member(InitialShape{});
  const auto& forests = predictor.*member(Forests{});
  const auto& anchor_idx = predictor.*member(AnchorIdx{});
  const auto& deltas = predictor.*member(Deltas{});
  Writer w;
  w.put_bytes(kMagic, sizeof kMagic);
  w.put_string(stamp);
  w.put<uint64_t>(static_cast<uint64_t>(initial_shape.size()));
  if (initial_shape.size() > 0) {
    w.put_bytes(&initial_shape(0), sizeof(float) * static_cast<size_t>(initial_shape.size()));
  }
  std::vector<std::string> forest_bytes;
  for (const auto& forest : forests) forest_bytes.push_back(forest_bytes_of(forest));
  w.put<uint64_t>(forests.size());
  for (const auto& bytes : forest_bytes) w.put<uint64_t>(bytes.size());
  for (const auto& bytes : forest_bytes) w.put_bytes(bytes.data(), bytes.size());
  w.put<uint64_t>(anchor_idx.size());
  for (const auto& anchors : anchor_idx) {
    w.put<uint64_t>(anchors.size());
    w.put_bytes(anchors.data(), sizeof(unsigned long) * anchors.size());
  }
  w.put<uint64_t>(deltas.size());
  for (const auto& level : deltas) {
    w.put<uint64_t>(level.size());
    for (const auto& d : level) {
      w.put(d.x());
      w.put(d.y());
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
