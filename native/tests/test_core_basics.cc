#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#if defined(__linux__)
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#endif

#include "check.h"
#include "hrseg/buffer.h"
#include "hrseg/cancel.h"
#include "hrseg/error.h"
#include "hrseg/resident_pages.h"
#include "hrseg/scratch.h"
#include "hrseg/tensor.h"

using namespace hrseg;

TEST("dtype names round-trip and sizes are right") {
  for (DType d : {DType::F32, DType::F16, DType::BF16, DType::I32, DType::I64, DType::U8, DType::Bool}) {
    auto back = dtype_from_name(dtype_name(d));
    CHECK(back.has_value());
    CHECK(*back == d);
  }
  CHECK_EQ(dtype_size(DType::F32), 4u);
  CHECK_EQ(dtype_size(DType::BF16), 2u);
  CHECK_EQ(dtype_size(DType::I64), 8u);
  CHECK(!dtype_from_name("float64").has_value());
}

TEST("buffers are aligned, zeroed and counted while alive") {
  const int64_t count0 = Buffer::live_count();
  const int64_t bytes0 = Buffer::live_bytes();
  {
    Buffer a(1000), b(0);
    CHECK_EQ(Buffer::live_count(), count0 + 2);
    CHECK_EQ(Buffer::live_bytes(), bytes0 + 1000);
    CHECK(reinterpret_cast<uintptr_t>(a.data()) % 64 == 0);
    CHECK(b.data() != nullptr);
    bool zero = true;
    for (size_t i = 0; i < a.size(); ++i) zero = zero && a.as<unsigned char>()[i] == 0;
    CHECK(zero);
    Buffer c = std::move(a);  // moving transfers ownership without a new allocation
    CHECK_EQ(Buffer::live_count(), count0 + 2);
    CHECK(a.data() == nullptr);
  }
  CHECK_EQ(Buffer::live_count(), count0);
  CHECK_EQ(Buffer::live_bytes(), bytes0);
}

TEST("scratch blocks are aligned, reused by the next request of the same size, and the cache is bounded") {
  const float* first;
  {
    auto a = scratch<float>(300000);
    first = a.get();
    CHECK_EQ(reinterpret_cast<uintptr_t>(a.get()) % 64, uintptr_t{0});
    for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(i);  // all of it is writable
  }
  CHECK(scratch_cached_bytes() >= 300000 * sizeof(float));
  {
    auto b = scratch<float>(300000);
    CHECK(b.get() == first);  // the pages the last step touched
    auto c = scratch<float>(300000);
    CHECK(c.get() != b.get());  // two live blocks never share memory
  }
  for (int i = 1; i <= 40; ++i) auto big = scratch<float>(static_cast<size_t>(i) * 100000);
  CHECK(scratch_cached_bytes() <= (16u << 20));
  {
    auto small = scratch<uint8_t>(10);
    small[9] = 1;
  }  // small requests bypass the cache
}

TEST("expect_tensor names the tensor and both shapes") {
  Tensor t(DType::F32, {2, 3});
  expect_tensor(t.view(), "x", DType::F32, {2, -1});
  bool thrown = false;
  try {
    expect_tensor(t.view(), "features", DType::F32, {3, 3});
  } catch (const Error& e) {
    thrown = true;
    CHECK(e.code() == ErrorCode::InvalidTensor);
    CHECK(std::strstr(e.what(), "features") != nullptr);
    CHECK(std::strstr(e.what(), "[3,3]") != nullptr);
    CHECK(std::strstr(e.what(), "[2,3]") != nullptr);
  }
  CHECK(thrown);
  CHECK_THROWS(Error, expect_tensor(t.view(), "x", DType::I32, {2, 3}));
  CHECK_THROWS(Error, expect_tensor(t.view(), "x", DType::F32, {6}));
}

TEST("a cancelled token throws Aborted") {
  CancelToken token;
  token.check();
  check_cancel(nullptr);
  token.cancel();
  bool aborted = false;
  try {
    token.check();
  } catch (const Error& e) {
    aborted = e.code() == ErrorCode::Aborted;
  }
  CHECK(aborted);
}

TEST("file pages are handed back unchanged; written mappings and other files are left alone") {
#if !defined(__linux__)
  SKIP("madvise and /proc/self/smaps are Linux's");
#else
  // Two files in a folder of their own (the prefix), one outside it.
  char dir[] = "/tmp/hrseg-pages-XXXXXX";
  CHECK(mkdtemp(dir) != nullptr);
  const std::string prefix = std::string(dir) + "/";
  const size_t size = 64 * 4096;
  std::vector<unsigned char> bytes(size);
  for (size_t i = 0; i < size; ++i) bytes[i] = static_cast<unsigned char>((i * 131) ^ (i >> 9));
  auto map = [&](const std::string& path) {
    const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0);
    CHECK(write(fd, bytes.data(), size) == static_cast<ssize_t>(size));
    // Private and writable, as ONNX Runtime maps external weights.
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    close(fd);
    CHECK(p != MAP_FAILED);
    return static_cast<unsigned char*>(p);
  };
  const std::string other_dir = std::string(dir) + "-other";
  CHECK(mkdir(other_dir.c_str(), 0700) == 0);
  unsigned char* clean = map(prefix + "weights.data");
  unsigned char* written = map(prefix + "written.data");
  unsigned char* other = map(other_dir + "/weights.data");
  auto touch = [&](const unsigned char* p) {
    const volatile unsigned char* v = p;  // reads the compiler may not drop
    unsigned sum = 0;
    for (size_t i = 0; i < size; i += 4096) sum += v[i];
    return sum;
  };
  touch(clean);
  touch(other);
  written[5] = 42;  // a private copy of one page: this mapping must not be dropped

  auto cleanup = [&] {
    for (unsigned char* p : {clean, written, other}) munmap(p, size);
    unlink((prefix + "weights.data").c_str());
    unlink((prefix + "written.data").c_str());
    unlink((other_dir + "/weights.data").c_str());
    rmdir(other_dir.c_str());
    rmdir(dir);
  };
  {
    // Under qemu-user (the arm64 tests) /proc/self/smaps is the emulator's imitation, which
    // says 0 kB resident for every mapping: nothing to release, nothing to check.
    std::ifstream smaps("/proc/self/smaps");
    const std::string all((std::istreambuf_iterator<char>(smaps)), std::istreambuf_iterator<char>());
    const size_t at = all.find(prefix + "weights.data"), rss = all.find("Rss:", at);
    if (at == std::string::npos || rss == std::string::npos || std::strtoull(all.c_str() + rss + 4, nullptr, 10) == 0) {
      cleanup();
      SKIP("/proc/self/smaps shows no resident pages for a mapping just read (an emulator's /proc)");
    }
  }

  const ReleasedPages first = release_file_pages(prefix);
  CHECK_EQ(first.mappings, 1);
  CHECK_EQ(first.skipped, 1);
  CHECK(first.bytes >= size);
  // Nothing resident left to release; the other folder's mapping was not counted.
  const ReleasedPages again = release_file_pages(prefix);
  CHECK_EQ(again.bytes, 0u);
  CHECK(std::memcmp(clean, bytes.data(), size) == 0);  // faulted back in from the file
  CHECK_EQ(written[5], 42);
  CHECK(std::memcmp(other, bytes.data(), size) == 0);
  const ReleasedPages reread = release_file_pages(prefix);
  CHECK(reread.bytes >= size);
  CHECK_EQ(release_file_pages("").mappings, 0);  // an empty prefix would match everything: refused

  cleanup();
#endif
}

TEST("file pages are read ahead into the page cache, not into the resident set") {
#if !defined(__linux__)
  SKIP("madvise, mincore and /proc/self/smaps are Linux's");
#else
  char dir[] = "/var/tmp/hrseg-prefetch-XXXXXX";
  CHECK(mkdtemp(dir) != nullptr);
  const std::string prefix = std::string(dir) + "/", path = prefix + "weights.data";
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE)), pages = 256, size = pages * page;
  std::vector<unsigned char> bytes(size, 7);
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
  CHECK(fd >= 0);
  CHECK(write(fd, bytes.data(), size) == static_cast<ssize_t>(size));
  CHECK(fsync(fd) == 0);
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);  // as ONNX Runtime maps
  CHECK(p != MAP_FAILED);
  std::vector<unsigned char> in_cache(pages);
  auto cached = [&] {
    CHECK(mincore(p, size, in_cache.data()) == 0);
    size_t n = 0;
    for (unsigned char c : in_cache) n += c & 1;
    return n;
  };
  auto cleanup = [&] {
    munmap(p, size);
    close(fd);
    unlink(path.c_str());
    rmdir(dir);
  };
  auto resident_kib = [&] {
    std::ifstream smaps("/proc/self/smaps");
    const std::string all((std::istreambuf_iterator<char>(smaps)), std::istreambuf_iterator<char>());
    const size_t at = all.find(path), rss = all.find("Rss:", at);
    return at == std::string::npos || rss == std::string::npos ? 0ull
                                                               : std::strtoull(all.c_str() + rss + 4, nullptr, 10);
  };
  {
    // Under qemu-user (the arm64 tests) /proc/self/smaps is the emulator's imitation (0 kB
    // resident for every mapping) and madvise's advice is not passed on: nothing to check.
    const volatile unsigned char* v = static_cast<unsigned char*>(p);
    CHECK(v[0] == 7);
    if (resident_kib() == 0) {
      cleanup();
      SKIP("/proc/self/smaps shows no resident pages for a mapping just read (an emulator's /proc)");
    }
    CHECK(madvise(p, size, MADV_DONTNEED) == 0);  // out of the process again
  }
  // Out of the page cache (written back by fsync, so droppable); a file system that keeps it
  // (tmpfs) cannot show the readahead.
  posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
  if (cached() > pages / 2) {
    cleanup();
    SKIP("the file stays in the page cache after POSIX_FADV_DONTNEED here (tmpfs or an emulator)");
  }
  CHECK_EQ(prefetch_file_pages(""), 0u);  // an empty prefix would match everything: refused
  CHECK(prefetch_file_pages(prefix) >= size);
  size_t now = 0;
  for (int i = 0; i < 200 && (now = cached()) < pages; ++i) usleep(10000);  // the reads complete
  CHECK_EQ(now, pages);
  CHECK_EQ(resident_kib(), 0ull);  // in the page cache, not in this process
  CHECK(static_cast<unsigned char*>(p)[size - 1] == 7);
  cleanup();
#endif
}

TEST_MAIN()
