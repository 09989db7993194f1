// Scratch arrays for intermediates that are written in full before they are read. Unlike
// std::vector<float>(n) they are not zero-filled first: for the head's MiB-sized intermediates
// that extra pass over memory was a measurable share of the image step.
#pragma once
#include <cstddef>
#include <memory>

namespace hrseg {

template <typename T>
std::unique_ptr<T[]> scratch(size_t n) {
  return std::unique_ptr<T[]>(new T[n]);  // default-initialised: no fill
}

}  // namespace hrseg
