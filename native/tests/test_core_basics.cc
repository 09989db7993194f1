#include <cstring>

#include "check.h"
#include "hrseg/buffer.h"
#include "hrseg/cancel.h"
#include "hrseg/error.h"
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

TEST_MAIN()
