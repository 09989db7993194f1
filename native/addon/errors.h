// Native errors become JS Errors carrying `hrsegCode`; lib/native.ts turns them into HrsegError.
#pragma once
#include <napi.h>

#include <stdexcept>
#include <string>

#include "hrseg/error.h"

namespace hrseg::addon {

// An error whose JS code is not one of native/core's (the TensorRT layer's ENGINE_BUILD_FAILED,
// DEVICE_UNAVAILABLE, ...), thrown on worker threads and turned into a coded JS error.
struct CodedError : std::runtime_error {
  std::string code;
  CodedError(std::string c, const std::string& message) : std::runtime_error(message), code(std::move(c)) {}
};

Napi::Error make_error(Napi::Env env, const char* code, const std::string& message);
[[noreturn]] void throw_error(Napi::Env env, const char* code, const std::string& message);

// Runs fn and rethrows native/core exceptions as coded JS errors (for synchronous bindings).
template <typename Fn>
auto guard(Napi::Env env, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const Napi::Error&) {
    throw;
  } catch (const hrseg::Error& e) {
    throw make_error(env, error_code_name(e.code()), e.what());
  } catch (const CodedError& e) {
    throw make_error(env, e.code.c_str(), e.what());
  } catch (const std::bad_alloc&) {
    throw make_error(env, "OUT_OF_MEMORY", "native memory allocation failed");
  } catch (const std::exception& e) {
    throw make_error(env, "INTERNAL", e.what());
  }
}

}  // namespace hrseg::addon
