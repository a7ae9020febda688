#pragma once
// Completeness checks of encoded image files, done on the bytes before decoding: OpenCV's
// decoders return an image for a truncated JPEG (libjpeg only warns "Premature end of JPEG
// file" and fills the rest grey), so a cut-off file would silently become training data.
#include <string>
#include <string_view>

namespace mer {

// "" when `bytes` is a complete JPEG, PNG or BMP (or another format, left to the decoder);
// otherwise what is wrong, e.g. "truncated JPEG (no end-of-image marker)". Checks:
//  - JPEG: the marker segments up to the first start-of-scan are whole, and the file ends
//    (after padding bytes 0x00/0xFF/whitespace) with the end-of-image marker FF D9;
//  - PNG: every chunk is whole, its CRC matches, and the chunks end with IEND;
//  - BMP: the file holds as many bytes as its header declares (pixel offset + rows).
// Thread-safe.
std::string image_bytes_problem(std::string_view bytes);

}  // namespace mer
