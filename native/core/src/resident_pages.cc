#include "hrseg/resident_pages.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif
#if defined(__linux__)
#include <sys/mman.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <vector>
#endif

namespace hrseg {

#if defined(__linux__)
namespace {

struct Mapping {
  uintptr_t begin = 0, end = 0;
  bool is_private = false, matches = false;
  uint64_t rss_kib = 0, anonymous_kib = 0;
};

// "Rss:   1234 kB" → 1234.
uint64_t kib_field(const std::string& line) {
  const char* p = line.c_str() + line.find(':') + 1;
  return std::strtoull(p, nullptr, 10);
}

// This process's private file mappings whose path starts with `path_prefix`, from /proc/self/smaps.
std::vector<Mapping> file_mappings(const std::string& path_prefix) {
  std::vector<Mapping> found;
  std::ifstream smaps("/proc/self/smaps");
  if (!smaps) return found;
  Mapping cur;
  bool have = false;
  auto finish = [&] {
    if (have && cur.matches) found.push_back(cur);
  };
  std::string line;
  while (std::getline(smaps, line)) {
    // A header line starts with "begin-end perms ..."; field lines start with a capitalised name.
    const size_t dash = line.find('-');
    if (dash != std::string::npos && dash > 0 && std::isxdigit(static_cast<unsigned char>(line[0])) &&
        line.find(':') > line.find(' ')) {
      finish();
      cur = Mapping{};
      have = true;
      std::istringstream header(line);
      std::string range, perms, offset, dev, inode, path;
      header >> range >> perms >> offset >> dev >> inode;
      std::getline(header >> std::ws, path);
      cur.begin = std::stoull(range.substr(0, dash), nullptr, 16);
      cur.end = std::stoull(range.substr(dash + 1), nullptr, 16);
      cur.is_private = perms.size() >= 4 && perms[3] == 'p';
      cur.matches = cur.is_private && path.compare(0, path_prefix.size(), path_prefix) == 0;
    } else if (have && cur.matches) {
      if (line.rfind("Rss:", 0) == 0)
        cur.rss_kib = kib_field(line);
      else if (line.rfind("Anonymous:", 0) == 0)
        cur.anonymous_kib = kib_field(line);
    }
  }
  finish();
  return found;
}

}  // namespace

ReleasedPages release_file_pages(const std::string& path_prefix) noexcept {
  ReleasedPages out;
  if (path_prefix.empty()) return out;
  try {
    for (const Mapping& m : file_mappings(path_prefix)) {
      if (m.anonymous_kib != 0) {
        out.skipped++;
        continue;
      }
      if (m.rss_kib == 0) continue;
      if (madvise(reinterpret_cast<void*>(m.begin), m.end - m.begin, MADV_DONTNEED) == 0) {
        out.bytes += m.rss_kib * 1024;
        out.mappings++;
      }
    }
  } catch (...) {
    // Reading /proc failed half-way: what was released stays released; nothing else to undo.
  }
  return out;
}

uint64_t prefetch_file_pages(const std::string& path_prefix) noexcept {
  uint64_t bytes = 0;
  if (path_prefix.empty()) return bytes;
  try {
    // In steps of 1 MiB: the kernel reads at most its readahead window (a few MiB) per call, so
    // one call for a whole mapping of hundreds of MiB would read only its beginning.
    constexpr uintptr_t step = uintptr_t{1} << 20;
    for (const Mapping& m : file_mappings(path_prefix))
      for (uintptr_t at = m.begin; at < m.end; at += step) {
        const uintptr_t n = std::min(step, m.end - at);
        if (madvise(reinterpret_cast<void*>(at), n, MADV_WILLNEED) == 0) bytes += n;
      }
  } catch (...) {
    // Reading /proc failed half-way: a hint the kernel did not get costs time, not correctness.
  }
  return bytes;
}

#else

ReleasedPages release_file_pages(const std::string&) noexcept { return {}; }
uint64_t prefetch_file_pages(const std::string&) noexcept { return 0; }

#endif

bool trim_heap() noexcept {
#if defined(__GLIBC__)
  return malloc_trim(0) == 1;
#else
  return false;
#endif
}

}  // namespace hrseg
