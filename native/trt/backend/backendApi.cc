// libhrseg_trt.so's exported table (hrseg_trt_api.h): every entry catches and turns exceptions
// into a status and a message, so nothing C++ crosses into the addon.
#include <cuda_runtime_api.h>

#include <exception>
#include <string>

#include "backendCommon.h"
#include "engineBuilder.h"
#include "engineRunner.h"
#include "nvinferLibrary.h"

namespace {

using hrseg::trt::Failure;
using hrseg::trt::write_error;

std::string g_root;

template <typename F>
int32_t guarded(char* err, size_t err_len, F&& f) noexcept {
  try {
    f();
    return HRSEG_TRT_OK;
  } catch (const Failure& e) {
    write_error(e.what(), err, err_len);
    return e.status;
  } catch (const std::bad_alloc&) {
    write_error("out of host memory", err, err_len);
    return HRSEG_TRT_OUT_OF_MEMORY;
  } catch (const std::exception& e) {
    write_error(e.what(), err, err_len);
    return HRSEG_TRT_RUNTIME;
  } catch (...) {
    write_error("unknown failure in the TensorRT layer", err, err_len);
    return HRSEG_TRT_RUNTIME;
  }
}

int32_t api_load(const char* root, char* err, size_t err_len) {
  return guarded(err, err_len, [&] {
    try {
      if (root) g_root = root;
      hrseg::trt::nvinfer_library(root);
    } catch (const Failure&) {
      throw;
    } catch (const std::exception& e) {
      throw Failure(HRSEG_TRT_UNAVAILABLE, e.what());
    }
  });
}

int32_t api_version() {
  const auto* lib = hrseg::trt::loaded_nvinfer_library();
  return lib ? lib->version : 0;
}

const char* api_library_path() {
  const auto* lib = hrseg::trt::loaded_nvinfer_library();
  return lib ? lib->path.c_str() : "";
}

const char* api_cannot_build() {
  const auto* lib = hrseg::trt::loaded_nvinfer_library();
  return lib ? lib->cannot_build.c_str() : "TensorRT is not loaded";
}

int32_t api_build(const hrseg_trt_build_options* o, char* err, size_t err_len) {
  return guarded(err, err_len, [&] {
    if (!o) throw Failure(HRSEG_TRT_INVALID, "build: no options");
    if (!hrseg::trt::loaded_nvinfer_library()) throw Failure(HRSEG_TRT_UNAVAILABLE, "TensorRT is not loaded");
    hrseg::trt::build_engine(*o, g_root.c_str());
  });
}

int32_t api_open(const char* plan_path, int32_t device, hrseg_trt_engine** engine, char* err, size_t err_len) {
  return guarded(err, err_len, [&] {
    if (!plan_path || !*plan_path || !engine) throw Failure(HRSEG_TRT_INVALID, "open: no plan file");
    *engine = nullptr;
    *engine = hrseg::trt::open_engine(plan_path, device);
  });
}

int32_t api_io_count(const hrseg_trt_engine* e) { return e ? static_cast<int32_t>(e->io.size()) : 0; }

int32_t api_io_info(const hrseg_trt_engine* e, int32_t index, hrseg_trt_tensor_info* info) {
  if (!e || !info || index < 0 || index >= static_cast<int32_t>(e->io.size())) return HRSEG_TRT_INVALID;
  *info = e->io[index];
  return HRSEG_TRT_OK;
}

void api_close(hrseg_trt_engine* e) { delete e; }

int32_t api_run_device(hrseg_trt_engine* e, const hrseg_trt_value* inputs, int32_t count, hrseg_trt_value* outputs,
                       int32_t output_count, char* err, size_t err_len) {
  return guarded(err, err_len, [&] {
    if (!e || (count && !inputs) || (output_count && !outputs))
      throw Failure(HRSEG_TRT_INVALID, "run_device: bad arguments");
    hrseg::trt::run_engine_device(*e, inputs, count, outputs, output_count);
  });
}

int32_t api_device_alloc(size_t bytes, int32_t device, void** ptr, char* err, size_t err_len) {
  return guarded(err, err_len, [&] {
    if (!ptr) throw Failure(HRSEG_TRT_INVALID, "device_alloc: no result pointer");
    hrseg::trt::use_device(device);
    *ptr = nullptr;
    const cudaError_t c = cudaMalloc(ptr, bytes ? bytes : 1);
    if (c != cudaSuccess) hrseg::trt::cuda_failure(c, "cudaMalloc");
  });
}

void api_device_free(void* ptr) {
  if (ptr) cudaFree(ptr);
}

int32_t api_device_to_host(const void* src, void* dst, size_t bytes, int32_t device, char* err, size_t err_len) {
  return guarded(err, err_len, [&] {
    if (!bytes) return;
    if (!src || !dst) throw Failure(HRSEG_TRT_INVALID, "device_to_host: null pointer");
    hrseg::trt::use_device(device);
    const cudaError_t c = cudaMemcpy(dst, src, bytes, cudaMemcpyDeviceToHost);
    if (c != cudaSuccess) hrseg::trt::cuda_failure(c, "copying a device tensor to the host");
  });
}

int32_t api_device_uuid(int32_t device, char* uuid, size_t uuid_len, char* err, size_t err_len) {
  return guarded(err, err_len, [&] {
    if (!uuid || uuid_len < 33) throw Failure(HRSEG_TRT_INVALID, "device_uuid: the buffer needs 33 bytes");
    hrseg::trt::use_device(device);
    cudaDeviceProp prop{};
    const cudaError_t c = cudaGetDeviceProperties(&prop, device);
    if (c != cudaSuccess) hrseg::trt::cuda_failure(c, "cudaGetDeviceProperties");
    static const char* hex = "0123456789abcdef";
    for (int i = 0; i < 16; ++i) {
      const auto b = static_cast<unsigned char>(prop.uuid.bytes[i]);
      uuid[2 * i] = hex[b >> 4];
      uuid[2 * i + 1] = hex[b & 15];
    }
    uuid[32] = '\0';
  });
}

const hrseg_trt_api kApi = {HRSEG_TRT_ABI_VERSION, api_load,           api_version,    api_library_path,
                            api_cannot_build,      api_build,          api_open,       api_io_count,
                            api_io_info,           api_close,          api_run_device, api_device_alloc,
                            api_device_free,       api_device_to_host, api_device_uuid};

}  // namespace

extern "C" __attribute__((visibility("default"))) const hrseg_trt_api* hrseg_trt_get_api(void) { return &kApi; }
