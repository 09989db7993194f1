#include <cstring>

#include "check.h"
#include "hrseg/error.h"
#include "hrseg/rle.h"
#include "random.h"

using namespace hrseg;

TEST("counts are column-major runs starting with zeros") {
  // 2×3 mask, rows: [0 1 1] [0 0 1]; column-major: 0 0 | 1 0 | 1 1 → runs 0:2, 1:1, 0:1, 1:2.
  const uint8_t m[] = {0, 1, 1, 0, 0, 1};
  CHECK(rle_encode(m, 2, 3) == (std::vector<uint32_t>{2, 1, 1, 2}));
  const uint8_t full[] = {1, 1, 1, 1};
  CHECK(rle_encode(full, 2, 2) == (std::vector<uint32_t>{0, 4}));
  const uint8_t empty[] = {0, 0, 0, 0};
  CHECK(rle_encode(empty, 2, 2) == (std::vector<uint32_t>{4}));
}

TEST("the compact string form, by hand") {
  // 4 → '4'; 0,4 → "04"; 48 = 0b1_10000: the low group 0x10 has the sign bit set, so a second
  // group must follow: (0x10|0x20)+48 = '`', then 1+48 = '1'.
  CHECK_EQ(rle_to_string({4}), std::string("4"));
  CHECK_EQ(rle_to_string({0, 4}), std::string("04"));
  CHECK_EQ(rle_to_string({48}), std::string("`1"));
  // From the fourth count on (index > 2, as pycocotools), the difference to the count two before
  // is stored: 5,3,5,1 → 5,3,5,-2; -2 is 0b11110 in 5 bits, sign bit set, no more groups: 'N'.
  CHECK_EQ(rle_to_string({5, 3, 5, 1}), std::string("535N"));
  CHECK(rle_from_string("535N") == (std::vector<uint32_t>{5, 3, 5, 1}));
  CHECK(rle_from_string("`1") == std::vector<uint32_t>{48});
}

TEST("random masks round-trip through counts and strings") {
  for (int rep = 0; rep < 50; ++rep) {
    const int64_t H = check::randint(1, 60), W = check::randint(1, 60);
    std::vector<uint8_t> m(H * W), back(H * W, 7);
    const int64_t density = check::randint(0, 10);
    for (auto& v : m) v = check::randint(0, 9) < density;
    auto counts = rle_encode(m.data(), H, W);
    CHECK(rle_from_string(rle_to_string(counts)) == counts);
    rle_decode(counts, H, W, back.data());
    CHECK(std::memcmp(m.data(), back.data(), m.size()) == 0);
  }
}

TEST("bad input is an error, not a crash") {
  std::vector<uint8_t> m(6);
  CHECK_THROWS(Error, rle_decode({2, 1}, 2, 3, m.data()));
  CHECK_THROWS(Error, rle_from_string("\x7f"));
  CHECK_THROWS(Error, rle_from_string("P"));   // ends inside a count
  CHECK_THROWS(Error, rle_from_string("1N"));  // no base two back yet: only the fourth count may be negative-relative
}

TEST_MAIN()
