// A minimal test harness: TEST(name) registers a case, CHECK* record failures with file:line,
// and run_all() prints one line per case and exits non-zero on any failure. A test may call
// SKIP(reason) to report a visible skip (ctest maps exit code 77 to "Skipped").
#pragma once
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <sstream>
#include <string>
#include <vector>

namespace check {

struct Case {
  const char* name;
  std::function<void()> fn;
};

inline std::vector<Case>& registry() {
  static std::vector<Case> cases;
  return cases;
}

struct Failure {
  std::string message;
};
struct Skip {
  std::string reason;
};

inline int& failures_in_case() {
  static int n = 0;
  return n;
}

inline void record(const char* file, int line, const std::string& msg) {
  ++failures_in_case();
  std::fprintf(stderr, "  %s:%d: %s\n", file, line, msg.c_str());
}

struct Registrar {
  Registrar(const char* name, std::function<void()> fn) { registry().push_back({name, std::move(fn)}); }
};

// CHECK_FILTER=text runs only the cases whose name contains it (while working on one).
inline int run_all() {
  int passed = 0, failed = 0, skipped = 0;
  const char* filter = std::getenv("CHECK_FILTER");
  for (auto& c : registry()) {
    if (filter && std::string(c.name).find(filter) == std::string::npos) continue;
    failures_in_case() = 0;
    try {
      c.fn();
    } catch (const Skip& s) {
      std::printf("SKIP %s: %s\n", c.name, s.reason.c_str());
      ++skipped;
      continue;
    } catch (const std::exception& e) {
      record(__FILE__, __LINE__, std::string("uncaught exception: ") + e.what());
    } catch (...) {
      record(__FILE__, __LINE__, "uncaught non-standard exception");
    }
    if (failures_in_case()) {
      std::printf("FAIL %s\n", c.name);
      ++failed;
    } else {
      std::printf("ok   %s\n", c.name);
      ++passed;
    }
  }
  std::printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
  if (failed) return 1;
  if (filter && passed + skipped == 0) {
    std::printf("CHECK_FILTER=%s matches no case\n", filter);
    return 1;
  }
  if (passed == 0 && skipped > 0) return 77;
  return 0;
}

}  // namespace check

#define CHECK_CONCAT2(a, b) a##b
#define CHECK_CONCAT(a, b) CHECK_CONCAT2(a, b)
#define TEST(name)                                                                                   \
  static void CHECK_CONCAT(test_fn_, __LINE__)();                                                    \
  static check::Registrar CHECK_CONCAT(test_reg_, __LINE__)(name, CHECK_CONCAT(test_fn_, __LINE__)); \
  static void CHECK_CONCAT(test_fn_, __LINE__)()

#define CHECK(cond)                                                            \
  do {                                                                         \
    if (!(cond)) check::record(__FILE__, __LINE__, "CHECK(" #cond ") failed"); \
  } while (0)

#define CHECK_EQ(a, b)                                                   \
  do {                                                                   \
    auto _va = (a);                                                      \
    auto _vb = (b);                                                      \
    if (!(_va == _vb)) {                                                 \
      std::ostringstream _s;                                             \
      _s << "CHECK_EQ(" #a ", " #b ") failed: " << _va << " vs " << _vb; \
      check::record(__FILE__, __LINE__, _s.str());                       \
    }                                                                    \
  } while (0)

// Expects `stmt` to throw an exception of type `type`.
#define CHECK_THROWS(type, stmt)                                                       \
  do {                                                                                 \
    bool _thrown = false;                                                              \
    try {                                                                              \
      stmt;                                                                            \
    } catch (const type&) {                                                            \
      _thrown = true;                                                                  \
    } catch (...) {                                                                    \
    }                                                                                  \
    if (!_thrown) check::record(__FILE__, __LINE__, "expected " #type " from " #stmt); \
  } while (0)

#define SKIP(reason) \
  throw check::Skip { reason }

#define TEST_MAIN() \
  int main() { return check::run_all(); }
