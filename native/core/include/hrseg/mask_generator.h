// The post-processing of SAM's automatic mask generator (SPEC.md section 3), fed one decoder batch
// at a time. The rule is SAM's, applied at the original resolution: low-resolution logits are
// upsampled (bilinear, align_corners = false) to the padded frame, cropped to the resized image,
// resized (bilinear) to the original size, then thresholded; masks are kept when their predicted
// IoU and stability score pass, then box NMS (by predicted IoU), then the largest K by area.
//
// Why it is fast and still exact: both resizes are linear and separable, so each original pixel
// is a convex combination of a few low-resolution logits along each axis. Pixels that share those
// logits form tiles; a tile whose logits all lie above (or all at or below) a threshold is decided
// for all its pixels at once. Only tiles straddling a threshold are evaluated pixel by pixel, in
// float64, with the composed weights. Candidates keep their mask as row spans (not logits), so
// memory stays small until the final K masks are written.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "hrseg/box_nms.h"
#include "hrseg/cancel.h"
#include "hrseg/tensor.h"

namespace hrseg {

struct MaskGeneratorConfig {
  double pred_iou_threshold = 0.88;
  double stability_threshold = 0.95;
  double stability_offset = 1.0;
  double mask_threshold = 0.0;
  double nms_iou_threshold = 0.7;
  int64_t max_proposals = 50;  // K
};

struct MaskGeometry {
  int64_t low = 256;              // side of the decoder's low-resolution logits
  int64_t frame = 1024;           // side of SAM's padded input frame
  int64_t height = 0, width = 0;  // the original image
};

struct Proposals {
  Tensor masks;      // u8 [K, H, W], 0/1
  Tensor boxes;      // f32 [K, 4]: x0, y0, x1, y1 with x1, y1 the last covered pixel (SAM's convention)
  Tensor iou;        // f32 [K] predicted IoU
  Tensor stability;  // f32 [K]
  Tensor areas;      // i32 [K] pixels in the mask
  Tensor points;     // f32 [K, 2] the point prompt (x, y in original pixels) that produced it
  Tensor source;     // i32 [K] candidate index: prompt index × masks per prompt + mask index
  int64_t evaluated = 0, passed_iou = 0, passed_stability = 0, after_nms = 0;

  // Every tensor sized for K proposals of an H × W image (zero-filled).
  static Proposals allocate(int64_t K, int64_t H, int64_t W);
  // Writes proposal k's box and scores (not its mask).
  void set(int64_t k, const Box& box, float iou_value, float stability_value, int64_t area, float px, float py,
           int64_t source_index);
};

// SAM's filters, shared by MaskGenerator and its CUDA twin so that both decide alike.
// Masks whose predicted IoU is above the threshold (compared in float32, as torch compares a
// float tensor with a Python number), in order.
std::vector<int64_t> masks_above_iou(const float* iou, int64_t n, double threshold);
// |x > t + o| / |x > t − o| as torch computes it (a float32 division of the counts); NaN when
// nothing is above t − o.
float stability_score(int64_t above_high, int64_t above_low) noexcept;
// The stability test in float32; NaN fails it.
bool stable_enough(float stability, double threshold) noexcept;
// Candidate ids (NMS order) reordered largest area first, ties keeping their order, cut to max_k.
void largest_first(std::vector<int64_t>& ids, const std::vector<int64_t>& areas, int64_t max_k);

class MaskGenerator {
 public:
  // Throws Error(InvalidArgument) for settings or a geometry no generator can run.
  static void validate(const MaskGeneratorConfig& config, const MaskGeometry& geometry);

  MaskGenerator(const MaskGeneratorConfig& config, const MaskGeometry& geometry);
  ~MaskGenerator();
  MaskGenerator(const MaskGenerator&) = delete;
  MaskGenerator& operator=(const MaskGenerator&) = delete;

  // One decoder batch: logits [B, M, low, low], iou [B, M], points [B, 2] (original pixels).
  // Prompts are numbered in the order batches arrive.
  void add_batch(const float* logits, const float* iou, const float* points, int64_t batch, int64_t masks_per_prompt,
                 const CancelToken* cancel = nullptr);

  // NMS, the area cap and the K masks at the original resolution. Leaves the generator unchanged.
  Proposals finish(const CancelToken* cancel = nullptr) const;

  const MaskGeometry& geometry() const noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hrseg
