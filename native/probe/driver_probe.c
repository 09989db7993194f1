// The driver probe: a Node-API module with no CUDA in it, which lib/native.ts loads before the addon
// to choose the addon's CUDA flavour (docs/cuda.md "Two CUDA flavours"). The addon cannot ask
// itself: its CUDA 13 runtime is linked in, and on a driver older than 13.0 it loads but can do
// nothing on the GPU; the choice between two binaries has to be made before loading either.
//
// driverVersion() → { version: number | null, reason: string | null }: cuDriverGetVersion from the
// driver's own library (libcuda.so.1, dlopened: never linked, so this loads on a machine with no
// driver), e.g. 12040 for a driver that supports CUDA 12.4; null with the reason when there is no
// driver library or it does not answer.
#include <dlfcn.h>
#include <node_api.h>
#include <stdio.h>

static napi_value make_result(napi_env env, int version, const char* reason) {
  napi_value out, v, r;
  napi_create_object(env, &out);
  if (reason) {
    napi_get_null(env, &v);
    napi_create_string_utf8(env, reason, NAPI_AUTO_LENGTH, &r);
  } else {
    napi_create_int32(env, version, &v);
    napi_get_null(env, &r);
  }
  napi_set_named_property(env, out, "version", v);
  napi_set_named_property(env, out, "reason", r);
  return out;
}

static napi_value driver_version(napi_env env, napi_callback_info info) {
  (void)info;
  char reason[512];
  // RTLD_LOCAL, and never closed: the addon's CUDA runtime dlopens the same library afterwards,
  // and unloading a driver library mid-process is not something it supports.
  void* lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib) {
    const char* e = dlerror();
    snprintf(reason, sizeof reason, "no NVIDIA driver is installed (%s)", e ? e : "libcuda.so.1 not found");
    return make_result(env, 0, reason);
  }
  typedef int (*get_version_fn)(int*);
  get_version_fn get_version = (get_version_fn)dlsym(lib, "cuDriverGetVersion");
  int version = 0;
  if (!get_version) return make_result(env, 0, "libcuda.so.1 has no cuDriverGetVersion");
  int err = get_version(&version);
  if (err != 0 || version <= 0) {
    snprintf(reason, sizeof reason, "cuDriverGetVersion failed (CUresult %d)", err);
    return make_result(env, 0, reason);
  }
  return make_result(env, version, NULL);
}

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "driverVersion", NAPI_AUTO_LENGTH, driver_version, NULL, &fn);
  napi_set_named_property(env, exports, "driverVersion", fn);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
