#include "mer/core/image_check.h"

#include <array>
#include <cstdint>

namespace mer {
namespace {

uint32_t be32(const unsigned char* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}
uint32_t le32(const unsigned char* p) {
  return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
}
uint16_t le16(const unsigned char* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }

uint32_t crc32(const unsigned char* data, size_t size) {
  static const auto table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t n = 0; n < 256; ++n) {
      uint32_t c = n;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[n] = c;
    }
    return t;
  }();
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < size; ++i) c = table[(c ^ data[i]) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

std::string jpeg_problem(const unsigned char* p, size_t n) {
  // Header segments: FF xx, then a 2-byte big-endian length (standalone markers have none).
  size_t i = 2;
  size_t scan = 0;
  while (scan == 0) {
    while (i < n && p[i] == 0xFF) ++i;  // fill bytes
    if (i >= n) return "truncated JPEG (ends in its header)";
    const unsigned char marker = p[i++];
    if (marker == 0xD9) return "JPEG without image data (end marker before any scan)";
    if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) continue;
    if (i + 2 > n) return "truncated JPEG (ends in its header)";
    const size_t length = (size_t{p[i]} << 8) | p[i + 1];
    if (length < 2) return "corrupt JPEG (bad segment length)";
    if (i + length > n) return "truncated JPEG (ends in its header)";
    i += length;
    if (marker == 0xDA) scan = i;
  }
  size_t end = n;
  while (end > scan && (p[end - 1] == 0x00 || p[end - 1] == ' ' || p[end - 1] == '\n' ||
                        p[end - 1] == '\r')) {
    --end;
  }
  if (end < scan + 2 || p[end - 2] != 0xFF || p[end - 1] != 0xD9) {
    return "truncated JPEG (no end-of-image marker)";
  }
  return "";
}

std::string png_problem(const unsigned char* p, size_t n) {
  size_t i = 8;
  bool first = true;
  while (true) {
    if (i + 12 > n) return "truncated PNG (no IEND chunk)";
    const uint32_t length = be32(p + i);
    if (length > 0x7FFFFFFFu || i + 12 + size_t{length} > n) {
      return "truncated PNG (a chunk runs past the end of the file)";
    }
    const unsigned char* type = p + i + 4;
    if (first && std::string_view(reinterpret_cast<const char*>(type), 4) != "IHDR") {
      return "corrupt PNG (does not start with IHDR)";
    }
    first = false;
    if (crc32(type, size_t{length} + 4) != be32(p + i + 8 + length)) {
      return "corrupt PNG (chunk " + std::string(reinterpret_cast<const char*>(type), 4) +
             " fails its CRC)";
    }
    i += 12 + size_t{length};
    if (std::string_view(reinterpret_cast<const char*>(type), 4) == "IEND") return "";
  }
}

std::string bmp_problem(const unsigned char* p, size_t n) {
  if (n < 26) return "truncated BMP (ends in its header)";
  const uint32_t declared = le32(p + 2);
  const uint32_t offset = le32(p + 10);
  if (declared != 0 && n < declared) return "truncated BMP (shorter than its header declares)";
  if (offset > n) return "truncated BMP (ends before its pixels)";
  const uint32_t header = le32(p + 14);
  if (header >= 40 && n >= 34) {
    const auto width = static_cast<int32_t>(le32(p + 18));
    const auto height = static_cast<int32_t>(le32(p + 22));
    const uint16_t bits = le16(p + 28);
    const uint32_t compression = le32(p + 30);
    if (compression == 0 && width > 0 && height != 0 && bits > 0 && bits <= 32) {
      const uint64_t row = ((uint64_t(width) * bits + 31) / 32) * 4;
      const uint64_t rows = height < 0 ? uint64_t(-int64_t(height)) : uint64_t(height);
      if (uint64_t(offset) + row * rows > n) return "truncated BMP (ends before its last row)";
    }
  }
  return "";
}

}  // namespace

std::string image_bytes_problem(std::string_view bytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t n = bytes.size();
  if (n == 0) return "empty file";
  if (n >= 2 && p[0] == 0xFF && p[1] == 0xD8) return jpeg_problem(p, n);
  if (n >= 8 && bytes.substr(0, 8) == std::string_view("\x89PNG\r\n\x1a\n", 8)) return png_problem(p, n);
  if (n >= 2 && p[0] == 'B' && p[1] == 'M') return bmp_problem(p, n);
  return "";
}

}  // namespace mer
