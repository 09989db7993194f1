// cudasim: the runtime API. Device memory is host memory from posix_memalign (so that
// AddressSanitizer puts red zones around each allocation and quarantines freed ones), filled with
// 0xFF bytes when allocated (NaN as floats: a read of memory nothing wrote shows up in the
// results). Work is queued per stream and runs only when the host synchronises (or needs a
// result), in an order CUDA permits but does not promise: the newest runnable work first, across
// streams, keeping each stream's order, event waits and the legacy default stream's implicit
// synchronisation. Code that forgot an event or returned a buffer while work still reads it
// then computes the wrong thing (or touches freed memory) instead of passing by luck.
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cudasim/launch.h"
#include "internal.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

struct CUstream_st;
struct CUevent_st;

namespace cudasim::detail {
namespace {

struct Op {
  uint64_t seq = 0;
  CUstream_st* stream = nullptr;
  std::vector<std::shared_ptr<Op>> deps;
  std::function<void()> run;
  std::string what;
  bool done = false;
};

}  // namespace
}  // namespace cudasim::detail

struct CUstream_st {
  int id = 0;
  bool blocking = true;
  std::deque<std::shared_ptr<cudasim::detail::Op>> queue;
};

struct CUevent_st {
  unsigned flags = 0;
  std::shared_ptr<cudasim::detail::Op> target;  // the marker of the last record
};

namespace cudasim::detail {
namespace {

std::recursive_mutex mu;
CUstream_st legacy;  // the legacy default stream (stream 0)
std::vector<CUstream_st*> streams{&legacy};
int next_stream_id = 1;
uint64_t next_seq = 1;
std::map<uintptr_t, size_t> allocations;
size_t live_bytes = 0;                 // the sum of allocations
int64_t allocations_before_fail = -1;  // cudasim::fail_allocations_after; -1: never
std::map<const void*, int> max_dynamic_smem;
thread_local cudaError_t last_error = cudaSuccess;
int current_device = 0;

// Each kernel's static shared memory as ptxas counts it (scripts/cudasim-static-smem.mjs, run by the
// build where nvcc is): the launch check adds it to the dynamic shared memory, as the driver does.
struct StaticSmem {
  const char* kernel;
  size_t bytes;
};
#ifdef CUDASIM_STATIC_SMEM
const StaticSmem kStaticSmem[] = {
#include CUDASIM_STATIC_SMEM
    {nullptr, 0}};
#else
const StaticSmem kStaticSmem[] = {{nullptr, 0}};
#endif
std::map<const void*, std::string> kernel_names;  // for cudaFuncSetAttribute's check

size_t static_smem(const std::string& kernel) {
  for (const StaticSmem* e = kStaticSmem; e->kernel; ++e)
    if (kernel == e->kernel) return e->bytes;
  return 0;
}

cudaDeviceProp make_props() {
  cudaDeviceProp p{};
  const char* which = std::getenv("CUDASIM_DEVICE");
  const bool a100 = which && std::strcmp(which, "a100") == 0;
  // The T4 (Turing, 7.5) is the oldest GPU the CUDA 12 flavour has code for (docs/cuda.md): it has
  // fp16 tensor cores but no bf16 ones, which is what gemm_tc's dispatch must respect.
  const bool t4 = which && std::strcmp(which, "t4") == 0;
  if (which && !a100 && !t4 && std::strcmp(which, "h100") != 0)
    std::fprintf(stderr, "cudasim: CUDASIM_DEVICE=%s is not simulated (h100, a100, t4); using h100\n", which);
  std::snprintf(p.name, sizeof p.name, "%s",
                t4     ? "Tesla T4 (cudasim)"
                : a100 ? "NVIDIA A100-SXM4-80GB (cudasim)"
                       : "NVIDIA H100 80GB HBM3 (cudasim)");
  p.totalGlobalMem = t4 ? 15642329088ull : a100 ? 85031714816ull : 85520809984ull;
  p.sharedMemPerBlock = 48 * 1024;
  p.regsPerBlock = 65536;
  p.warpSize = 32;
  p.maxThreadsPerBlock = 1024;
  p.maxThreadsDim[0] = 1024, p.maxThreadsDim[1] = 1024, p.maxThreadsDim[2] = 64;
  p.maxGridSize[0] = 2147483647, p.maxGridSize[1] = 65535, p.maxGridSize[2] = 65535;
  p.major = t4 ? 7 : a100 ? 8 : 9;
  p.minor = t4 ? 5 : 0;
  p.multiProcessorCount = t4 ? 40 : a100 ? 108 : 132;
  p.sharedMemPerBlockOptin = t4 ? 65536 : a100 ? 166912 : 232448;
  p.sharedMemPerMultiprocessor = t4 ? 65536 : a100 ? 167936 : 233472;
  p.maxThreadsPerMultiProcessor = t4 ? 1024 : 2048;
  p.l2CacheSize = t4 ? 4194304 : a100 ? 41943040 : 52428800;
  return p;
}

cudaDeviceProp& props() {
  static cudaDeviceProp p = make_props();
  return p;
}

// The device's memory: the named GPU's, or CUDASIM_DEVICE_MEMORY bytes (read at every allocation,
// so that a test can run out of device memory and recover within one process).
size_t device_memory() {
  if (const char* env = std::getenv("CUDASIM_DEVICE_MEMORY"); env && *env) {
    char* end = nullptr;
    const unsigned long long v = std::strtoull(env, &end, 10);
    if (env[0] >= '0' && env[0] <= '9' && *end == 0) return size_t(v);
    std::fprintf(stderr, "cudasim: CUDASIM_DEVICE_MEMORY=%s is not a number of bytes; ignored\n", env);
  }
  return props().totalGlobalMem;
}

cudaError_t fail(cudaError_t e, const std::string& why) {
  std::fprintf(stderr, "cudasim: %s\n", why.c_str());
  last_error = e;
  return e;
}

CUstream_st* resolve(cudaStream_t s) { return s ? s : &legacy; }

bool runnable(const Op& op) {
  for (auto& d : op.deps)
    if (!d->done) return false;
  return true;
}

// Runs queued work until `until()` holds: each time the runnable head with the newest sequence
// number (another stream's later work before this stream's earlier work, wherever CUDA allows).
template <typename Until>
void drain(Until until) {
  while (!until()) {
    std::shared_ptr<Op> pick;
    for (auto* s : streams)
      if (!s->queue.empty() && runnable(*s->queue.front()) && (!pick || s->queue.front()->seq > pick->seq))
        pick = s->queue.front();
    if (!pick) report_fault("queued work waits on work that can never run (an event recorded after the wait?)");
    pick->stream->queue.pop_front();
    pick->run();
    pick->done = true;
  }
}

void drain_all() {
  drain([] {
    for (auto* s : streams)
      if (!s->queue.empty()) return false;
    return true;
  });
}

std::shared_ptr<Op> enqueue(cudaStream_t stream, std::string what, std::function<void()> run) {
  auto op = std::make_shared<Op>();
  CUstream_st* s = resolve(stream);
  op->seq = next_seq++;
  op->stream = s;
  op->what = std::move(what);
  op->run = std::move(run);
  // The legacy default stream waits for all work of blocking streams, and they for it.
  if (s == &legacy) {
    for (auto* x : streams)
      if (x != &legacy && x->blocking && !x->queue.empty()) op->deps.push_back(x->queue.back());
  } else if (s->blocking && !legacy.queue.empty()) {
    op->deps.push_back(legacy.queue.back());
  }
  s->queue.push_back(op);
  return op;
}

// The allocation holding [p, p + n), or a message saying what is wrong.
bool device_range(const void* p, size_t n, std::string& why) {
  const auto a = reinterpret_cast<uintptr_t>(p);
  auto it = allocations.upper_bound(a);
  if (it == allocations.begin()) {
    why = "is not device memory";
    return false;
  }
  --it;
  if (a >= it->first + std::max<size_t>(it->second, 1)) {
    why = "is not device memory (or was freed)";
    return false;
  }
  if (a + n > it->first + it->second) {
    why = "runs " + std::to_string(a + n - it->first - it->second) + " bytes past the end of its allocation of " +
          std::to_string(it->second);
    return false;
  }
  return true;
}

bool is_device(const void* p) {
  std::string why;
  return p && device_range(p, 1, why);
}

std::string hex(const void* p) {
  char s[32];
  std::snprintf(s, sizeof s, "%p", p);
  return s;
}

#if defined(__SANITIZE_ADDRESS__)
// AddressSanitizer's report then names the kernel, block and thread it happened in.
void asan_report(const char*) {
  const std::string at = current_location();
  if (!at.empty()) std::fprintf(stderr, "cudasim: the access above was made by %s\n", at.c_str());
}
struct AsanHook {
  AsanHook() { __asan_set_error_report_callback(asan_report); }
} asan_hook;
#endif

}  // namespace

void report_fault(const std::string& message) {
  std::fprintf(stderr, "cudasim: %s\n", message.c_str());
  std::fflush(stderr);
  std::abort();
}

void launch(const void* kernel, const char* name, dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
            std::function<void()> body) {
  std::lock_guard<std::recursive_mutex> lock(mu);
  const auto& p = props();
  const std::string k = std::string("launch of ") + name + ": ";
  const unsigned long long threads = 1ull * block.x * block.y * block.z;
  if (block.x == 0 || block.y == 0 || block.z == 0 || grid.x == 0 || grid.y == 0 || grid.z == 0)
    return void(fail(cudaErrorInvalidConfiguration, k + "a grid or block dimension is 0"));
  if (block.x > unsigned(p.maxThreadsDim[0]) || block.y > unsigned(p.maxThreadsDim[1]) ||
      block.z > unsigned(p.maxThreadsDim[2]) || threads > unsigned(p.maxThreadsPerBlock))
    return void(fail(cudaErrorInvalidConfiguration,
                     k + "block (" + std::to_string(block.x) + "," + std::to_string(block.y) + "," +
                         std::to_string(block.z) + ") is over the device's limits (1024 threads; 1024, 1024, 64)"));
  if (grid.x > unsigned(p.maxGridSize[0]) || grid.y > unsigned(p.maxGridSize[1]) || grid.z > unsigned(p.maxGridSize[2]))
    return void(fail(cudaErrorInvalidConfiguration,
                     k + "grid (" + std::to_string(grid.x) + "," + std::to_string(grid.y) + "," +
                         std::to_string(grid.z) + ") is over the device's limits (" + std::to_string(p.maxGridSize[0]) +
                         ", " + std::to_string(p.maxGridSize[1]) + ", " + std::to_string(p.maxGridSize[2]) + ")"));
  kernel_names[kernel] = name;
  auto attr = max_dynamic_smem.find(kernel);
  const size_t fixed = static_smem(name);
  if (attr == max_dynamic_smem.end() && fixed + smem > p.sharedMemPerBlock)
    return void(fail(cudaErrorInvalidValue, k + std::to_string(fixed) + " bytes of static and " + std::to_string(smem) +
                                                " of dynamic shared memory, over the " +
                                                std::to_string(p.sharedMemPerBlock) +
                                                " a block gets without cudaFuncAttributeMaxDynamicSharedMemorySize"));
  if (attr != max_dynamic_smem.end() && smem > size_t(attr->second))
    return void(fail(cudaErrorInvalidValue, k + std::to_string(smem) + " bytes of dynamic shared memory, over the " +
                                                std::to_string(attr->second) + " cudaFuncSetAttribute allowed"));
  enqueue(stream, std::string("kernel ") + name, [name = std::string(name), grid, block, smem, body = std::move(body)] {
    for (unsigned z = 0; z < grid.z; ++z)
      for (unsigned y = 0; y < grid.y; ++y)
        for (unsigned x = 0; x < grid.x; ++x) {
          // Each block's dynamic shared memory: exactly the bytes asked for (red zones around
          // it under AddressSanitizer), holding garbage as a real block's does.
          void* dyn = nullptr;
          if (smem) {
            dyn = std::malloc(smem);
            std::memset(dyn, 0xFF, smem);
          }
          run_block(name.c_str(), uint3{x, y, z}, block, grid, dyn, body);
          std::free(dyn);
        }
  });
}

}  // namespace cudasim::detail

namespace cudasim {
using namespace detail;

cudaError_t func_set_attribute(const void* kernel, cudaFuncAttribute attr, int value) {
  std::lock_guard<std::recursive_mutex> lock(mu);
  if (attr == cudaFuncAttributeMaxDynamicSharedMemorySize) {
    // The kernel's name is known once it has been launched; before, its static part counts as 0.
    auto named = kernel_names.find(kernel);
    const size_t fixed = named == kernel_names.end() ? 0 : static_smem(named->second);
    if (value < 0 || size_t(value) + fixed > props().sharedMemPerBlockOptin)
      return fail(cudaErrorInvalidValue, "cudaFuncSetAttribute: " + std::to_string(value) +
                                             " bytes of dynamic shared memory" +
                                             (fixed ? " (+" + std::to_string(fixed) + " static)" : "") +
                                             " is over the device's " + std::to_string(props().sharedMemPerBlockOptin));
    max_dynamic_smem[kernel] = value;
  }
  return cudaSuccess;
}

}  // namespace cudasim

using namespace cudasim::detail;

cudaError_t cudaMalloc(void** ptr, size_t bytes) {
  std::lock_guard<std::recursive_mutex> lock(mu);
  if (!ptr) return fail(cudaErrorInvalidValue, "cudaMalloc: null result pointer");
  *ptr = nullptr;
  if (bytes == 0) return cudaSuccess;
  if (allocations_before_fail == 0) return last_error = cudaErrorMemoryAllocation;  // asked for: no message each time
  if (const size_t total = device_memory(); bytes > total || live_bytes > total - bytes)
    return fail(cudaErrorMemoryAllocation, "cudaMalloc(" + std::to_string(bytes) + " bytes): out of memory (" +
                                               std::to_string(live_bytes) + " of the device's " +
                                               std::to_string(total) + " bytes in use)");
  void* p = nullptr;
  if (posix_memalign(&p, 256, bytes) != 0) return fail(cudaErrorMemoryAllocation, "cudaMalloc: out of (host) memory");
  std::memset(p, 0xFF, bytes);
  allocations[reinterpret_cast<uintptr_t>(p)] = bytes;
  live_bytes += bytes;
  if (allocations_before_fail > 0) --allocations_before_fail;
  *ptr = p;
  return cudaSuccess;
}

cudaError_t cudaFree(void* ptr) {
  std::lock_guard<std::recursive_mutex> lock(mu);
  if (!ptr) return cudaSuccess;
  drain_all();  // cudaFree synchronises the device
  auto it = allocations.find(reinterpret_cast<uintptr_t>(ptr));
  if (it == allocations.end())
    return fail(cudaErrorInvalidValue, "cudaFree(" + hex(ptr) + "): not the start of a live allocation");
  live_bytes -= it->second;
  allocations.erase(it);
  std::free(ptr);
  return cudaSuccess;
}

cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t n, cudaMemcpyKind kind, cudaStream_t stream) {
  std::lock_guard<std::recursive_mutex> lock(mu);
  if (n == 0) return cudaSuccess;
  if (kind == cudaMemcpyDefault)
    kind = is_device(dst) ? (is_device(src) ? cudaMemcpyDeviceToDevice : cudaMemcpyHostToDevice)
                          : (is_device(src) ? cudaMemcpyDeviceToHost : cudaMemcpyHostToHost);
  std::string why;
  const bool dst_dev = kind == cudaMemcpyHostToDevice || kind == cudaMemcpyDeviceToDevice;
  const bool src_dev = kind == cudaMemcpyDeviceToHost || kind == cudaMemcpyDeviceToDevice;
  if (dst_dev && !device_range(dst, n, why))
    return fail(cudaErrorInvalidValue, "cudaMemcpy: destination " + hex(dst) + " " + why);
  if (src_dev && !device_range(src, n, why))
    return fail(cudaErrorInvalidValue, "cudaMemcpy: source " + hex(src) + " " + why);
  if (!dst_dev && is_device(dst))
    return fail(cudaErrorInvalidValue, "cudaMemcpy: the destination is device memory, the kind says host");
  if (!src_dev && is_device(src))
    return fail(cudaErrorInvalidValue, "cudaMemcpy: the source is device memory, the kind says host");
  if (kind == cudaMemcpyHostToDevice) {
    // From pageable memory the source is staged now: the caller may reuse it at once.
    auto staged = std::make_shared<std::vector<unsigned char>>(static_cast<const unsigned char*>(src),
                                                               static_cast<const unsigned char*>(src) + n);
    enqueue(stream, "copy to device", [dst, staged] { std::memcpy(dst, staged->data(), staged->size()); });
  } else if (kind == cudaMemcpyDeviceToHost) {
    // To pageable memory the call returns once the data is there.
    auto op = enqueue(stream, "copy to host", [dst, src, n] { std::memcpy(dst, src, n); });
    drain([&] { return op->done; });
  } else if (kind == cudaMemcpyDeviceToDevice) {
    enqueue(stream, "copy on device", [dst, src, n] { std::memmove(dst, src, n); });
  } else {
    std::memmove(dst, src, n);
  }
  return cudaSuccess;
}

cudaError_t cudaMemcpy(void* dst, const void* src, size_t n, cudaMemcpyKind kind) {
  std::lock_guard<std::recursive_mutex> lock(mu);
  drain_all();
  const cudaError_t e = cudaMemcpyAsync(dst, src, n, kind, nullptr);
  if (e == cudaSuccess) drain_all();
  return e;
}

cudaError_t cudaMemsetAsync(void* dst, int value, size_t n, cudaStream_t stream) {
  std::lock_guard<std::recursive_mutex> lock(mu);
  if (n == 0) return cudaSuccess;
  std::string why;
  if (!device_range(dst, n, why)) return fail(cudaErrorInvalidValue, "cudaMemset: " + hex(dst) + " " + why);
  enqueue(stream, "memset", [dst, value, n] { std::memset(dst, value, n); });
  return cudaSuccess;
}

cudaError_t cudaMemset(void* dst, int value, size_t n) { return cudaMemsetAsync(dst, value, n, nullptr); }

cudaError_t cudaStreamCreateWithFlags(cudaStream_t* stream, unsigned flags) {
  std::lock_guard<std::recursive_mutex> lock(mu);
  if (!stream) return fail(cudaErrorInvalidValue, "cudaStreamCreate: null result pointer");
  auto* s = new CUstream_st;
  s->id = next_stream_id++;
  s->blocking = !(flags & cudaStreamNonBlocking);
  streams.push_back(s);
  *stream = s;
  return cudaSuccess;
}

cudaError_t cudaStreamCreate(cudaStream_t* stream) { return cudaStreamCreateWithFlags(stream, cudaStreamDefault); }

cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  std::lock_guard<std::recursive_mutex> lock(mu);
  auto it = std::find(streams.begin(), streams.end(), stream);
  if (!stream || it == streams.end())
    return fail(cudaErrorInvalidResourceHandle, "cudaStreamDestroy: not a live stream");
  // Its queued work still runs (as CUDA's does after a destroy).
  drain([stream] { return stream->queue.empty(); });
  streams.erase(it);
  delete stream;
  return cudaSuccess;
}

cudaError_t cudaStreamSynchronize(cudaStream_t stream) {
  std::lock_guard<std::recursive_mutex> lock(mu);
  CUstream_st* s = resolve(stream);
  if (std::find(streams.begin(), streams.end(), s) == streams.end())
    return fail(cudaErrorInvalidResourceHandle, "cudaStreamSynchronize: not a live stream");
  drain([s] { return s->queue.empty(); });
  return cudaSuccess;
}

cudaError_t cudaEventCreateWithFlags(cudaEvent_t* event, unsigned flags) {
  if (!event) return fail(cudaErrorInvalidValue, "cudaEventCreate: null result pointer");
  auto* e = new CUevent_st;
  e->flags = flags;
  *event = e;
  return cudaSuccess;
}

cudaError_t cudaEventCreate(cudaEvent_t* event) { return cudaEventCreateWithFlags(event, cudaEventDefault); }

cudaError_t cudaEventDestroy(cudaEvent_t event) {
  if (!event) return fail(cudaErrorInvalidResourceHandle, "cudaEventDestroy: null event");
  delete event;
  return cudaSuccess;
}

cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t stream) {
  std::lock_guard<std::recursive_mutex> lock(mu);
  if (!event) return fail(cudaErrorInvalidResourceHandle, "cudaEventRecord: null event");
  event->target = enqueue(stream, "event record", [] {});
  return cudaSuccess;
}

cudaError_t cudaStreamWaitEvent(cudaStream_t stream, cudaEvent_t event, unsigned) {
  std::lock_guard<std::recursive_mutex> lock(mu);
  if (!event) return fail(cudaErrorInvalidResourceHandle, "cudaStreamWaitEvent: null event");
  auto target = event->target;  // the record as of now (a later record does not move the wait)
  auto op = enqueue(stream, "event wait", [] {});
  if (target && !target->done) op->deps.push_back(target);
  return cudaSuccess;
}

cudaError_t cudaEventSynchronize(cudaEvent_t event) {
  std::lock_guard<std::recursive_mutex> lock(mu);
  if (!event) return fail(cudaErrorInvalidResourceHandle, "cudaEventSynchronize: null event");
  auto target = event->target;
  drain([&] { return !target || target->done; });
  return cudaSuccess;
}

cudaError_t cudaEventQuery(cudaEvent_t event) {
  std::lock_guard<std::recursive_mutex> lock(mu);
  if (!event) return fail(cudaErrorInvalidResourceHandle, "cudaEventQuery: null event");
  // Queued work runs only at synchronisation: until then a recorded event is not reached.
  return !event->target || event->target->done ? cudaSuccess : cudaErrorNotReady;
}

cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  if (!ms || !start || !end) return fail(cudaErrorInvalidValue, "cudaEventElapsedTime: null argument");
  if ((start->flags | end->flags) & cudaEventDisableTiming)
    return fail(cudaErrorInvalidResourceHandle, "cudaEventElapsedTime: an event was created without timing");
  *ms = 0.0f;  // the simulator has no clock worth reporting
  return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize() {
  std::lock_guard<std::recursive_mutex> lock(mu);
  drain_all();
  return cudaSuccess;
}

cudaError_t cudaGetLastError() {
  const cudaError_t e = last_error;
  last_error = cudaSuccess;
  return e;
}

cudaError_t cudaPeekAtLastError() { return last_error; }

const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess:
      return "no error";
    case cudaErrorInvalidValue:
      return "invalid argument";
    case cudaErrorMemoryAllocation:
      return "out of memory";
    case cudaErrorInitializationError:
      return "initialization error";
    case cudaErrorInvalidConfiguration:
      return "invalid configuration argument";
    case cudaErrorInvalidDevicePointer:
      return "invalid device pointer";
    case cudaErrorInvalidMemcpyDirection:
      return "invalid copy direction for memcpy";
    case cudaErrorInsufficientDriver:
      return "CUDA driver version is insufficient for CUDA runtime version";
    case cudaErrorNoDevice:
      return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice:
      return "invalid device ordinal";
    case cudaErrorInvalidResourceHandle:
      return "invalid resource handle";
    case cudaErrorNotReady:
      return "device not ready";
    case cudaErrorIllegalAddress:
      return "an illegal memory access was encountered";
    case cudaErrorLaunchOutOfResources:
      return "too many resources requested for launch";
    case cudaErrorLaunchFailure:
      return "unspecified launch failure";
  }
  return "unknown error";
}

cudaError_t cudaGetDeviceCount(int* count) {
  if (!count) return fail(cudaErrorInvalidValue, "cudaGetDeviceCount: null result pointer");
  *count = 1;
  return cudaSuccess;
}

cudaError_t cudaSetDevice(int device) {
  if (device != 0)
    return fail(cudaErrorInvalidDevice, "cudaSetDevice(" + std::to_string(device) + "): the simulator has one device");
  current_device = device;
  return cudaSuccess;
}

cudaError_t cudaGetDevice(int* device) {
  if (!device) return fail(cudaErrorInvalidValue, "cudaGetDevice: null result pointer");
  *device = current_device;
  return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (!prop) return fail(cudaErrorInvalidValue, "cudaGetDeviceProperties: null result pointer");
  if (device != 0)
    return fail(cudaErrorInvalidDevice,
                "cudaGetDeviceProperties(" + std::to_string(device) + "): the simulator has one device");
  *prop = props();
  prop->totalGlobalMem = device_memory();
  return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int* value, cudaDeviceAttr attr, int device) {
  if (!value) return fail(cudaErrorInvalidValue, "cudaDeviceGetAttribute: null result pointer");
  if (device != 0)
    return fail(cudaErrorInvalidDevice,
                "cudaDeviceGetAttribute(" + std::to_string(device) + "): the simulator has one device");
  switch (attr) {
    case cudaDevAttrMaxGridDimX:
      *value = props().maxGridSize[0];
      return cudaSuccess;
    case cudaDevAttrMaxGridDimY:
      *value = props().maxGridSize[1];
      return cudaSuccess;
    case cudaDevAttrMaxGridDimZ:
      *value = props().maxGridSize[2];
      return cudaSuccess;
    case cudaDevAttrComputeCapabilityMajor:
      *value = props().major;
      return cudaSuccess;
    case cudaDevAttrComputeCapabilityMinor:
      *value = props().minor;
      return cudaSuccess;
  }
  return fail(cudaErrorInvalidValue,
              "cudaDeviceGetAttribute: attribute " + std::to_string(int(attr)) + " is not simulated");
}

namespace cudasim::detail {
int compute_capability() { return props().major * 10 + props().minor; }
}  // namespace cudasim::detail

int cudasim::set_max_grid_y(int limit) {
  const int old = props().maxGridSize[1];
  if (limit < 1 || limit > 65535) report_fault("set_max_grid_y(" + std::to_string(limit) + "): outside 1 … 65535");
  props().maxGridSize[1] = limit;
  return old;
}

int64_t cudasim::fail_allocations_after(int64_t n) {
  std::lock_guard<std::recursive_mutex> lock(mu);
  const int64_t old = allocations_before_fail;
  allocations_before_fail = n < 0 ? -1 : n;
  return old;
}

size_t cudasim::device_bytes_in_use() {
  std::lock_guard<std::recursive_mutex> lock(mu);
  return live_bytes;
}

cudaError_t cudaRuntimeGetVersion(int* v) {
  if (!v) return fail(cudaErrorInvalidValue, "cudaRuntimeGetVersion: null result pointer");
  *v = CUDART_VERSION;
  return cudaSuccess;
}

cudaError_t cudaDriverGetVersion(int* v) {
  if (!v) return fail(cudaErrorInvalidValue, "cudaDriverGetVersion: null result pointer");
  *v = CUDART_VERSION;
  return cudaSuccess;
}
