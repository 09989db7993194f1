// CUDA's grid limits: x up to 2^31 − 1 blocks, y and z up to 65535 on every device since compute
// capability 3.0. Launchers that give each mask or proposal a row of blocks in y go in slices of
// the device's limit, so that a package's ranges (pointsPerBatch up to 65536 prompts, three masks
// each; maxProposals up to 100000; a TensorRT plugin's K) never reach a launch the driver refuses.
#pragma once
#include <algorithm>
#include <cstdint>

namespace hrseg::cuda {

// The current device's grid limit in y (asked, not assumed: the simulated GPU lowers it to test
// the slicing with small grids).
int64_t max_grid_y();

// launch(first, count) for consecutive slices [first, first + count) covering [0, total), each at
// most max_grid_y() long.
template <class Launch>
void in_grid_y_slices(int64_t total, Launch&& launch) {
  const int64_t limit = max_grid_y();
  for (int64_t first = 0; first < total; first += limit)
    launch(first, static_cast<unsigned>(std::min(limit, total - first)));
}

}  // namespace hrseg::cuda
