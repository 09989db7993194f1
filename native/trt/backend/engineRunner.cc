// Runs a plan on the engine's own stream: host inputs are uploaded into the engine's buffers,
// device inputs used in place, outputs written to device buffers. The profile is the first whose
// [min, max] admits every input shape.
#include "engineRunner.h"

#include "hrseg/error.h"
#include "nvinferLibrary.h"
#include "trtLogger.h"

hrseg_trt_engine::~hrseg_trt_engine() {
  for (void* b : buffers)
    if (b) cudaFree(b);
  context.reset();
  engine.reset();
  runtime.reset();
  if (stream) cudaStreamDestroy(stream);
}

namespace hrseg::trt {

namespace {

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) cuda_failure(e, what);
}

int64_t volume(const nvinfer1::Dims& d) {
  int64_t v = 1;
  for (int32_t i = 0; i < d.nbDims; ++i) v *= d.d[i];
  return v;
}

std::string shape_text(const nvinfer1::Dims& d) {
  std::string s = "[";
  for (int32_t i = 0; i < d.nbDims; ++i) s += (i ? ", " : "") + std::to_string(d.d[i]);
  return s + "]";
}

bool admits(const nvinfer1::ICudaEngine& engine, const char* name, int32_t profile, const nvinfer1::Dims& shape) {
  using S = nvinfer1::OptProfileSelector;
  const nvinfer1::Dims lo = engine.getProfileShape(name, profile, S::kMIN);
  const nvinfer1::Dims hi = engine.getProfileShape(name, profile, S::kMAX);
  if (lo.nbDims < 0) return true;  // a static input has no profile range
  if (lo.nbDims != shape.nbDims) return false;
  for (int32_t i = 0; i < shape.nbDims; ++i)
    if (shape.d[i] < lo.d[i] || shape.d[i] > hi.d[i]) return false;
  return true;
}

void* ensure(hrseg_trt_engine& e, size_t index, size_t bytes) {
  if (bytes == 0 && e.buffers[index]) return e.buffers[index];
  if (e.capacity[index] < bytes || !e.buffers[index]) {
    if (e.buffers[index]) cudaFree(e.buffers[index]);
    e.buffers[index] = nullptr;
    e.capacity[index] = 0;
    check(cudaMalloc(&e.buffers[index], bytes ? bytes : 1), "cudaMalloc for an engine tensor");
    e.capacity[index] = bytes;
  }
  return e.buffers[index];
}

}  // namespace

size_t element_size(int32_t dtype) {
  switch (dtype) {
    case HRSEG_TRT_F32:
    case HRSEG_TRT_I32:
      return 4;
    case HRSEG_TRT_F16:
    case HRSEG_TRT_BF16:
      return 2;
    case HRSEG_TRT_I8:
    case HRSEG_TRT_U8:
    case HRSEG_TRT_BOOL:
      return 1;
    case HRSEG_TRT_I64:
      return 8;
    default:
      throw Failure(HRSEG_TRT_INVALID, "unsupported tensor type " + std::to_string(dtype));
  }
}

std::shared_ptr<const MappedFile> map_plan(const std::string& path) {
  std::shared_ptr<const MappedFile> plan;
  try {
    plan = MappedFile::open(path);
  } catch (const hrseg::Error& e) {
    throw Failure(HRSEG_TRT_IO, std::string("the engine plan ") + e.what());
  }
  if (plan->size() == 0)
    throw Failure(HRSEG_TRT_IO, "the engine plan " + path + " is empty: rebuild it with hrseg build-engines");
  return plan;
}

hrseg_trt_engine* open_engine(const char* plan_path, int32_t device) {
  const NvInferLibrary* lib = loaded_nvinfer_library();
  if (!lib) throw Failure(HRSEG_TRT_UNAVAILABLE, "TensorRT is not loaded");
  // The plan is read where it lies (mapped, never copied into a buffer of ours): a 7B decoder's
  // plan is about 13 GB, and it is released as soon as TensorRT has deserialised it.
  const std::shared_ptr<const MappedFile> plan = map_plan(plan_path);
  auto e = std::make_unique<hrseg_trt_engine>();
  e->device = device;
  CollectingLogger& logger = process_logger();
  const uint64_t mark = logger.mark();
  // The device first: TensorRT starts CUDA on the current one (a runtime made on a fresh worker
  // thread would otherwise open a context on GPU 0), and deserialises onto it.
  use_device(device);
  e->runtime.reset(create_runtime(*lib));
  e->engine.reset(e->runtime->deserializeCudaEngine(plan->data(), plan->size()));
  if (!e->engine) {
    if (logger.reported(mark, nvinfer1::ErrorCode::kFAILED_ALLOCATION))
      throw Failure(HRSEG_TRT_OUT_OF_MEMORY,
                    std::string("TensorRT ran out of memory deserialising ") + plan_path + ": " + logger.since(mark));
    throw Failure(HRSEG_TRT_RUNTIME,
                  std::string("TensorRT could not deserialise ") + plan_path + " (not a plan of this TensorRT " +
                      "release and GPU, or damaged; rebuild it with hrseg build-engines): " + logger.since(mark));
  }
  e->context.reset(e->engine->createExecutionContext());
  if (!e->context) {
    // TensorRT's CUDA runtime is not ours: its allocation failures reach us through the error
    // recorder, never through cudaGetLastError().
    const int32_t status =
        logger.reported(mark, nvinfer1::ErrorCode::kFAILED_ALLOCATION) ? HRSEG_TRT_OUT_OF_MEMORY : HRSEG_TRT_RUNTIME;
    throw Failure(status, "TensorRT could not create an execution context: " + logger.since(mark));
  }
  // Created by hrseg's CUDA runtime and used by TensorRT's: a stream is a driver object of the
  // device's primary context, which both runtimes share (README, "Two CUDA runtimes").
  check(cudaStreamCreateWithFlags(&e->stream, cudaStreamNonBlocking), "cudaStreamCreate");
  const int32_t n = e->engine->getNbIOTensors();
  for (int32_t i = 0; i < n; ++i) e->names.emplace_back(e->engine->getIOTensorName(i));
  for (int32_t i = 0; i < n; ++i) {
    const char* name = e->names[i].c_str();
    hrseg_trt_tensor_info info{};
    info.name = name;
    info.is_input = e->engine->getTensorIOMode(name) == nvinfer1::TensorIOMode::kINPUT;
    info.dtype = static_cast<int32_t>(e->engine->getTensorDataType(name));
    const nvinfer1::Dims d = e->engine->getTensorShape(name);
    info.nb_dims = d.nbDims;
    for (int32_t k = 0; k < d.nbDims && k < HRSEG_TRT_MAX_DIMS; ++k) info.dims[k] = d.d[k];
    e->io.push_back(info);
  }
  e->buffers.assign(n, nullptr);
  e->capacity.assign(n, 0);
  return e.release();
}

namespace {

struct InputRef {
  const char* name;
  const void* data;
  bool on_device;
  int32_t dtype;
  nvinfer1::Dims dims;
};

// Checks the inputs against the engine, picks the first profile that admits their shapes, sets
// the shapes and binds each input: host data is copied into the engine's buffer, device data is
// used where it is.
void bind_inputs(hrseg_trt_engine& e, const std::vector<InputRef>& inputs) {
  check(cudaSetDevice(e.device), "cudaSetDevice");
  nvinfer1::ICudaEngine& engine = *e.engine;
  std::vector<const InputRef*> by_index(e.io.size(), nullptr);
  for (const InputRef& in : inputs) {
    size_t k = 0;
    while (k < e.io.size() && e.names[k] != in.name) ++k;
    if (k == e.io.size() || !e.io[k].is_input)
      throw Failure(HRSEG_TRT_INVALID, std::string("the engine has no input '") + in.name + "'");
    if (in.dtype != e.io[k].dtype)
      throw Failure(HRSEG_TRT_INVALID, std::string("input '") + in.name + "' must have type " +
                                           std::to_string(e.io[k].dtype) + ", got " + std::to_string(in.dtype));
    by_index[k] = &in;
  }
  for (size_t k = 0; k < e.io.size(); ++k)
    if (e.io[k].is_input && !by_index[k]) throw Failure(HRSEG_TRT_INVALID, "input '" + e.names[k] + "' was not given");
  int32_t chosen = -1;
  for (int32_t p = 0; p < engine.getNbOptimizationProfiles() && chosen < 0; ++p) {
    bool ok = true;
    for (size_t k = 0; k < e.io.size() && ok; ++k)
      if (by_index[k]) ok = admits(engine, e.names[k].c_str(), p, by_index[k]->dims);
    if (ok) chosen = p;
  }
  if (chosen < 0) {
    std::string shapes;
    for (size_t k = 0; k < e.io.size(); ++k)
      if (by_index[k]) shapes += " " + e.names[k] + shape_text(by_index[k]->dims);
    throw Failure(HRSEG_TRT_INVALID, "no optimisation profile of this engine admits the input shapes" + shapes +
                                         "; rebuild the engines with a wider profile");
  }
  if (chosen != e.profile) {
    if (!e.context->setOptimizationProfileAsync(chosen, e.stream))
      throw Failure(HRSEG_TRT_RUNTIME, "setOptimizationProfileAsync failed: " + process_logger().last_error());
    e.profile = chosen;
  }
  for (size_t k = 0; k < e.io.size(); ++k) {
    if (!by_index[k]) continue;
    const InputRef& t = *by_index[k];
    if (!e.context->setInputShape(e.names[k].c_str(), t.dims))
      throw Failure(HRSEG_TRT_INVALID, "input '" + e.names[k] + "' cannot take shape " + shape_text(t.dims) + ": " +
                                           process_logger().last_error());
    const size_t bytes = static_cast<size_t>(volume(t.dims)) * element_size(t.dtype);
    void* dev = const_cast<void*>(t.data);
    if (!t.on_device) {
      dev = ensure(e, k, bytes);
      if (bytes)
        check(cudaMemcpyAsync(dev, t.data, bytes, cudaMemcpyHostToDevice, e.stream), "copying an input to the GPU");
    } else if (!dev && bytes) {
      throw Failure(HRSEG_TRT_INVALID, "input '" + e.names[k] + "' has no device data");
    }
    // TensorRT wants a non-null address even for an empty tensor (an empty KV cache).
    if (!dev) dev = ensure(e, k, 0);
    e.context->setTensorAddress(e.names[k].c_str(), dev);
  }
}

nvinfer1::Dims output_shape(hrseg_trt_engine& e, size_t k) {
  const nvinfer1::Dims d = e.context->getTensorShape(e.names[k].c_str());
  if (d.nbDims < 0 || volume(d) < 0)
    throw Failure(HRSEG_TRT_RUNTIME, "output '" + e.names[k] + "' has no resolved shape");
  return d;
}

void enqueue(hrseg_trt_engine& e) {
  if (!e.context->enqueueV3(e.stream))
    throw Failure(HRSEG_TRT_RUNTIME, "enqueueV3 failed: " + process_logger().last_error());
}

}  // namespace

void run_engine_device(hrseg_trt_engine& e, const hrseg_trt_value* inputs, int32_t count, hrseg_trt_value* outputs,
                       int32_t output_count) {
  std::vector<InputRef> refs;
  for (int32_t i = 0; i < count; ++i)
    refs.push_back({inputs[i].name, inputs[i].data, inputs[i].on_device != 0, inputs[i].dtype,
                    to_dims(inputs[i].nb_dims, inputs[i].dims)});
  bind_inputs(e, refs);
  // Every output is listed once; those without a buffer get one of exactly their size.
  std::vector<void*> allocated;
  try {
    for (size_t k = 0; k < e.io.size(); ++k) {
      if (e.io[k].is_input) continue;
      hrseg_trt_value* out = nullptr;
      for (int32_t i = 0; i < output_count; ++i)
        if (e.names[k] == outputs[i].name) out = &outputs[i];
      if (!out) throw Failure(HRSEG_TRT_INVALID, "output '" + e.names[k] + "' was not asked for");
      const nvinfer1::Dims d = output_shape(e, k);
      const size_t bytes = static_cast<size_t>(volume(d)) * element_size(e.io[k].dtype);
      if (out->data && out->capacity < bytes)
        throw Failure(HRSEG_TRT_INVALID, "output '" + e.names[k] + "' needs " + std::to_string(bytes) +
                                             " bytes, its buffer holds " + std::to_string(out->capacity));
      if (!out->data) {
        check(cudaMalloc(&out->data, bytes ? bytes : 1), "cudaMalloc for an engine output");
        allocated.push_back(out->data);
        out->capacity = bytes;
      }
      out->on_device = 1;
      out->dtype = e.io[k].dtype;
      out->nb_dims = d.nbDims;
      for (int32_t j = 0; j < d.nbDims; ++j) out->dims[j] = d.d[j];
      e.context->setTensorAddress(e.names[k].c_str(), out->data);
    }
    enqueue(e);
    // Consumers on other streams (the mask generator, the next engine) read these right after.
    check(cudaStreamSynchronize(e.stream), "running the engine");
  } catch (...) {
    for (void* p : allocated) cudaFree(p);
    for (int32_t i = 0; i < output_count; ++i)
      for (void* p : allocated)
        if (outputs[i].data == p) outputs[i].data = nullptr;
    throw;
  }
}

}  // namespace hrseg::trt
