/* The C interface of libhrseg_trt.so, the only thing the addon knows of the TensorRT layer.
 * The addon has no TensorRT headers: it dlopens this library when TensorRT is asked for and calls
 * through the table hrseg_trt_get_api() returns. Plain C types only, so that the table's layout
 * does not depend on TensorRT's C++ ABI (which changed between 10 and 11). Every function reports
 * failure by its return value and a message written into (err, err_len). */
#ifndef HRSEG_TRT_API_H
#define HRSEG_TRT_API_H
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HRSEG_TRT_ABI_VERSION 4
#define HRSEG_TRT_MAX_DIMS 8

/* Element types, the numbering of TensorRT's DataType. */
enum hrseg_trt_dtype {
  HRSEG_TRT_F32 = 0,
  HRSEG_TRT_F16 = 1,
  HRSEG_TRT_I8 = 2,
  HRSEG_TRT_I32 = 3,
  HRSEG_TRT_BOOL = 4,
  HRSEG_TRT_U8 = 5,
  HRSEG_TRT_BF16 = 7,
  HRSEG_TRT_I64 = 8
};

/* Failure kinds, so the addon can map them to HrsegError codes. */
enum hrseg_trt_status {
  HRSEG_TRT_OK = 0,
  HRSEG_TRT_UNAVAILABLE = 1,
  HRSEG_TRT_INVALID = 2,
  HRSEG_TRT_BUILD_FAILED = 3,
  HRSEG_TRT_OUT_OF_MEMORY = 4,
  HRSEG_TRT_RUNTIME = 5,
  HRSEG_TRT_IO = 6,
  HRSEG_TRT_CANCELLED = 7
};

typedef struct hrseg_trt_profile_dims {
  const char* name;
  int32_t nb_dims;
  int64_t min[HRSEG_TRT_MAX_DIMS], opt[HRSEG_TRT_MAX_DIMS], max[HRSEG_TRT_MAX_DIMS];
} hrseg_trt_profile_dims;

/* One optimisation profile: a shape range for every dynamic input. */
typedef struct hrseg_trt_profile {
  const hrseg_trt_profile_dims* inputs;
  int32_t count;
} hrseg_trt_profile;

/* phase: TensorRT's phase name; step of steps; depth 0 for the outermost phase. Return nonzero to
 * cancel the build. */
typedef int32_t (*hrseg_trt_progress_fn)(void* user, const char* phase, int32_t step, int32_t steps, int32_t depth);

typedef struct hrseg_trt_build_options {
  const char* onnx_path;         /* a typed (fp32/fp16/bf16) ONNX file; external data beside it */
  const char* plan_path;         /* written through plan_path + ".partial", then renamed */
  const char* timing_cache_path; /* read when present, written back after the build; may be NULL */
  int32_t device;                /* CUDA device ordinal */
  uint64_t workspace_bytes;      /* 0: TensorRT's default */
  int32_t optimization_level;    /* -1: TensorRT's default (3) */
  const hrseg_trt_profile* profiles;
  int32_t profile_count;
  hrseg_trt_progress_fn progress;
  void* progress_user;
} hrseg_trt_build_options;

typedef struct hrseg_trt_tensor_info {
  const char* name;
  int32_t is_input;
  int32_t dtype;
  int32_t nb_dims;
  int64_t dims[HRSEG_TRT_MAX_DIMS]; /* -1 for a dynamic dimension */
} hrseg_trt_tensor_info;

/* A tensor for run_device: host or device memory. For an output, data may be a device buffer the
 * caller owns (capacity bytes; the output must fit) or NULL, and then the library allocates it
 * (free it with device_free); dims are filled in with the output's shape. */
typedef struct hrseg_trt_value {
  const char* name;
  void* data;
  int32_t on_device;
  size_t capacity;
  int32_t dtype;
  int32_t nb_dims;
  int64_t dims[HRSEG_TRT_MAX_DIMS];
} hrseg_trt_value;

typedef struct hrseg_trt_engine hrseg_trt_engine;

typedef struct hrseg_trt_api {
  int32_t abi_version;
  /* Loads libnvinfer.so.11 and, for builds, libnvonnxparser.so.11 beside it (tensorrt_root/lib,
   * then tensorrt_root itself, then the library path), and registers hrseg's plugins in TensorRT's
   * global registry. Idempotent. A runtime without builder or parser loads: see cannot_build. */
  int32_t (*load)(const char* tensorrt_root, char* err, size_t err_len);
  /* After a successful load: TensorRT's version (major*10000 + minor*100 + patch) and its file. */
  int32_t (*version)(void);
  const char* (*library_path)(void);
  /* After a successful load: "" when engines can be built, else why not. */
  const char* (*cannot_build)(void);
  int32_t (*build)(const hrseg_trt_build_options* options, char* err, size_t err_len);
  /* Opens a plan file: mapped and handed to TensorRT where it lies (no size limit, no copy). */
  int32_t (*open)(const char* plan_path, int32_t device, hrseg_trt_engine** engine, char* err, size_t err_len);
  int32_t (*io_count)(const hrseg_trt_engine* engine);
  int32_t (*io_info)(const hrseg_trt_engine* engine, int32_t index, hrseg_trt_tensor_info* info);
  void (*close)(hrseg_trt_engine* engine);
  /* Chooses the first profile that admits the input shapes and runs: inputs are read where they
   * are (host data is uploaded, a device input is used in place), outputs are left on the device
   * (every output of the engine listed in outputs, by name; device_to_host copies one back).
   * Thread-compatible: one run at a time per engine. */
  int32_t (*run_device)(hrseg_trt_engine* engine, const hrseg_trt_value* inputs, int32_t input_count,
                        hrseg_trt_value* outputs, int32_t output_count, char* err, size_t err_len);
  int32_t (*device_alloc)(size_t bytes, int32_t device, void** ptr, char* err, size_t err_len);
  void (*device_free)(void* ptr);
  int32_t (*device_to_host)(const void* src, void* dst, size_t bytes, int32_t device, char* err, size_t err_len);
  /* The GPU's UUID as 32 hex digits, for the engine sidecar. */
  int32_t (*device_uuid)(int32_t device, char* uuid, size_t uuid_len, char* err, size_t err_len);
} hrseg_trt_api;

/* Exported by libhrseg_trt.so. */
const hrseg_trt_api* hrseg_trt_get_api(void);
typedef const hrseg_trt_api* (*hrseg_trt_get_api_fn)(void);

#ifdef __cplusplus
}
#endif
#endif
