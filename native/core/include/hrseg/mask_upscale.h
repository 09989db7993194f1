// SAM's postprocess_masks on logits (sam.py:159-171, as LISA calls it for each [SEG]): the
// low-resolution logits bilinearly to the padded frame, cropped to the resized image, bilinearly
// to the original size (align_corners false both times), through mask_geometry's composed map.
#pragma once
#include <cstdint>

namespace hrseg {

// low [n, L, L] → out [n, height, width], logits (threshold at 0 for the mask). `frame` is SAM's
// padded frame (1024); the content is the image resized so its longest side fills it.
void upscale_mask_logits(const float* low, int64_t n, int64_t low_size, int64_t frame, int64_t height, int64_t width,
                         float* out);

}  // namespace hrseg
