// Hands the resident pages of file mappings back to the page cache. ONNX Runtime maps a model's
// weights from the CPU model cache (lib/engines/ort-cache.ts); pages it has read stay in the
// process's resident set for as long as the mapping lives, so a pipeline of networks that each
// run once per image ends up resident with every network's weights at once. After such a network
// has run, its mappings' pages can be dropped from the process (they stay in the page cache, and
// the next run faults them back in without reading the disk, memory permitting).
#pragma once
#include <cstdint>
#include <string>

namespace hrseg {

struct ReleasedPages {
  uint64_t bytes = 0;  // resident bytes the released mappings held
  int mappings = 0;    // mappings released
  int skipped = 0;     // mappings under the prefix left alone: they hold private (written) pages
};

// For every private file mapping of this process whose path starts with `path_prefix` (not
// empty), and which holds no private copy of a page (smaps' Anonymous: 0 kB — i.e. nothing was
// ever written to it), drops its resident pages (madvise MADV_DONTNEED): later reads fault the
// file's bytes back in, so the mapping's contents are unchanged. Mappings with written pages are
// skipped (dropping those would lose the writes). The caller must make sure no thread writes to
// these mappings meanwhile. Linux only; elsewhere it releases nothing. Never throws.
ReleasedPages release_file_pages(const std::string& path_prefix) noexcept;

// Asks the kernel to read the pages behind this process's private file mappings under
// `path_prefix` into the page cache ahead of use (madvise MADV_WILLNEED: readahead, without
// mapping them into the process, so the resident set does not grow). Meant for weights that a
// later stage will read, whose pages the stages before it may have pushed out of the page cache:
// the next run then faults them in from memory rather than waiting on the disk page by page.
// May block while the reads are queued (call it off the main thread). Returns the bytes advised.
// Linux only; elsewhere it does nothing. Never throws.
uint64_t prefetch_file_pages(const std::string& path_prefix) noexcept;

// Returns the free memory inside malloc's heap to the system (glibc's malloc_trim(0)). Blocks
// below glibc's mmap threshold (which grows to 32 MiB as large blocks are freed) are carved from
// the heap, and their pages stay in the resident set after free() unless they sit at its top: an
// encoder's activations, freed after its run, would otherwise stay resident through every later
// stage. Returns whether memory was released; false where the C library has no such call.
bool trim_heap() noexcept;

}  // namespace hrseg
