// COCO run-length encoding of binary masks (pycocotools' format), for storing proposals and
// reading LLM-Seg40K's `rle_seg`: runs over the mask in column-major order, starting with a run
// of zeros (possibly empty), and the compact string form of those counts.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace hrseg {

// mask [H, W] row-major, nonzero = set.
std::vector<uint32_t> rle_encode(const uint8_t* mask, int64_t H, int64_t W);
// Throws Error(InvalidArgument) when the counts do not cover exactly H·W pixels.
void rle_decode(const std::vector<uint32_t>& counts, int64_t H, int64_t W, uint8_t* mask);

std::string rle_to_string(const std::vector<uint32_t>& counts);
// Throws Error(InvalidArgument) on characters outside the encoding or negative counts.
std::vector<uint32_t> rle_from_string(const std::string& s);

}  // namespace hrseg
