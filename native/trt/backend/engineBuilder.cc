// ONNX → serialized plan. The network is strongly typed (network_creation_flags; no precision
// flags): the ONNX file's own types decide fp32, fp16 or bf16. Profiles, workspace, optimisation level and a
// timing cache come from the options; progress is reported through TensorRT's IProgressMonitor.
#include <atomic>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <mutex>
#include <vector>

#include "backendCommon.h"
#include "engineBuilder.h"
#include "nvinferLibrary.h"
#include "trtLogger.h"

namespace hrseg::trt {

namespace {

// TensorRT may report phases from its builder threads; the phase table is guarded, and the
// callback (the addon hands it to a thread-safe function) is called outside the lock.
class Progress final : public nvinfer1::IProgressMonitor {
 public:
  Progress(hrseg_trt_progress_fn fn, void* user) : fn_(fn), user_(user) {}
  void phaseStart(const char* phase, const char* parent, int32_t steps) noexcept override {
    int32_t d = 0;
    try {
      std::lock_guard<std::mutex> lock(mutex_);
      d = parent ? depth_locked(parent) + 1 : 0;
      phases_.push_back({phase ? phase : "", d, steps});
    } catch (...) {
      return;
    }
    try {
      notify(phase, 0, steps, d);
    } catch (...) {
    }
  }
  bool stepComplete(const char* phase, int32_t step) noexcept override {
    try {
      int32_t steps = 0, d = 0;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        for (const Phase& p : phases_)
          if (phase && p.name == phase) steps = p.steps, d = p.depth;
      }
      notify(phase, step + 1, steps, d);
    } catch (...) {
    }
    return !cancelled_.load();
  }
  void phaseFinish(const char* phase) noexcept override {
    try {
      std::lock_guard<std::mutex> lock(mutex_);
      for (auto it = phases_.begin(); it != phases_.end(); ++it)
        if (phase && it->name == phase) {
          phases_.erase(it);
          break;
        }
    } catch (...) {
    }
  }
  bool cancelled() const { return cancelled_.load(); }

 private:
  struct Phase {
    std::string name;
    int32_t depth, steps;
  };
  int32_t depth_locked(const char* name) const {
    for (const Phase& p : phases_)
      if (p.name == name) return p.depth;
    return 0;
  }
  void notify(const char* phase, int32_t step, int32_t steps, int32_t depth) {
    if (!fn_ || !phase) return;
    if (fn_(user_, phase, step, steps, depth) != 0) cancelled_.store(true);
  }
  hrseg_trt_progress_fn fn_;
  void* user_;
  std::mutex mutex_;
  std::vector<Phase> phases_;
  std::atomic<bool> cancelled_{false};
};

std::vector<char> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  return std::vector<char>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Written beside the target and renamed over it, so a crash never leaves half a file behind.
void write_file_atomically(const std::string& path, const void* data, size_t size) {
  const std::string partial = path + ".partial";
  {
    std::ofstream out(partial, std::ios::binary | std::ios::trunc);
    if (!out) throw Failure(HRSEG_TRT_IO, "cannot write " + partial);
    out.write(static_cast<const char*>(data), static_cast<std::streamsize>(size));
    out.flush();
    if (!out) {
      out.close();
      std::remove(partial.c_str());
      throw Failure(HRSEG_TRT_IO, "writing " + partial + " failed (disk full?)");
    }
  }
  if (std::rename(partial.c_str(), path.c_str()) != 0) {
    std::remove(partial.c_str());
    throw Failure(HRSEG_TRT_IO, "cannot rename " + partial + " to " + path);
  }
}

[[noreturn]] void build_failed(const std::string& what, uint64_t mark) {
  CollectingLogger& logger = process_logger();
  if (logger.reported(mark, nvinfer1::ErrorCode::kFAILED_ALLOCATION))
    throw Failure(HRSEG_TRT_OUT_OF_MEMORY,
                  what + ": TensorRT ran out of memory\nTensorRT said:\n" + logger.since(mark, false, true));
  const std::string log = logger.since(mark, false, true);
  throw Failure(HRSEG_TRT_BUILD_FAILED, what + (log.empty() ? "" : "\nTensorRT said:\n" + log));
}

// One build at a time per process: each takes most of a GPU, and the journal a failure quotes
// should hold this build's lines only.
std::mutex g_build_mutex;

}  // namespace

uint32_t network_creation_flags() {
#if NV_TENSORRT_MAJOR >= 11
  return 0;
#else
  return 1U << static_cast<uint32_t>(nvinfer1::NetworkDefinitionCreationFlag::kSTRONGLY_TYPED);
#endif
}

void build_engine(const hrseg_trt_build_options& o, const char* tensorrt_root) {
  if (!o.onnx_path || !o.plan_path) throw Failure(HRSEG_TRT_INVALID, "build: onnx_path and plan_path are required");
  const NvInferLibrary& lib = nvinfer_library(tensorrt_root);
  if (!lib.cannot_build.empty()) throw Failure(HRSEG_TRT_UNAVAILABLE, lib.cannot_build);
  std::lock_guard<std::mutex> serial(g_build_mutex);
  use_device(o.device);
  CollectingLogger& logger = process_logger();
  const uint64_t mark = logger.mark();
  // Declared first so that it outlives the config that points to it; the timing cache likewise
  // outlives the build (NvInfer.h, setTimingCache: "must not be destroyed until after the engine
  // is built"). The parser is destroyed before the network it fills, the network before its
  // builder (reverse order of declaration).
  Progress progress(o.progress, o.progress_user);
  Owned<nvinfer1::ITimingCache> cache;
  Owned<nvinfer1::IBuilder> builder(create_builder(lib));
  Owned<nvinfer1::INetworkDefinition> network(builder->createNetworkV2(network_creation_flags()));
  if (!network) build_failed("TensorRT could not create a network", mark);
  Owned<nvonnxparser::IParser> parser(
      static_cast<nvonnxparser::IParser*>(lib.create_parser(network.get(), &logger, NV_ONNX_PARSER_VERSION)));
  if (!parser) build_failed("TensorRT could not create an ONNX parser", mark);
  if (!parser->parseFromFile(o.onnx_path, static_cast<int>(nvinfer1::ILogger::Severity::kWARNING))) {
    std::string errors;
    for (int i = 0; i < parser->getNbErrors(); ++i) errors += std::string("\n  ") + parser->getError(i)->desc();
    throw Failure(HRSEG_TRT_BUILD_FAILED, std::string("TensorRT could not parse ") + o.onnx_path + ":" + errors);
  }
  Owned<nvinfer1::IBuilderConfig> config(builder->createBuilderConfig());
  if (!config) build_failed("TensorRT could not create a builder config", mark);
  if (o.workspace_bytes) config->setMemoryPoolLimit(nvinfer1::MemoryPoolType::kWORKSPACE, o.workspace_bytes);
  if (o.optimization_level >= 0) config->setBuilderOptimizationLevel(o.optimization_level);
  for (int32_t p = 0; p < o.profile_count; ++p) {
    nvinfer1::IOptimizationProfile* profile = builder->createOptimizationProfile();
    if (!profile) build_failed("TensorRT could not create an optimisation profile", mark);
    for (int32_t i = 0; i < o.profiles[p].count; ++i) {
      const hrseg_trt_profile_dims& in = o.profiles[p].inputs[i];
      using S = nvinfer1::OptProfileSelector;
      if (!profile->setDimensions(in.name, S::kMIN, to_dims(in.nb_dims, in.min)) ||
          !profile->setDimensions(in.name, S::kOPT, to_dims(in.nb_dims, in.opt)) ||
          !profile->setDimensions(in.name, S::kMAX, to_dims(in.nb_dims, in.max)))
        throw Failure(HRSEG_TRT_INVALID, std::string("profile ") + std::to_string(p) + ": bad shape range for input '" +
                                             in.name + "': " + logger.since(mark));
    }
    if (config->addOptimizationProfile(profile) < 0)
      throw Failure(HRSEG_TRT_INVALID, "profile " + std::to_string(p) + " was refused: " + logger.since(mark));
  }
  config->setProgressMonitor(&progress);
  std::vector<char> cache_blob;
  if (o.timing_cache_path) cache_blob = read_file(o.timing_cache_path);
  cache.reset(config->createTimingCache(cache_blob.data(), cache_blob.size()));
  if (!cache && !cache_blob.empty()) cache.reset(config->createTimingCache(nullptr, 0));  // corrupt: start afresh
  if (cache && !config->setTimingCache(*cache, false)) {
    Owned<nvinfer1::ITimingCache> fresh(config->createTimingCache(nullptr, 0));  // another GPU or version: start afresh
    if (fresh && config->setTimingCache(*fresh, false)) cache = std::move(fresh);
  }
  Owned<nvinfer1::IHostMemory> plan(builder->buildSerializedNetwork(*network, *config));
  config->setProgressMonitor(nullptr);
  if (progress.cancelled()) throw Failure(HRSEG_TRT_CANCELLED, "the engine build was cancelled");
  if (!plan || plan->size() == 0)
    build_failed(std::string("TensorRT could not build an engine from ") + o.onnx_path, mark);
  write_file_atomically(o.plan_path, plan->data(), plan->size());
  if (o.timing_cache_path) {
    if (const nvinfer1::ITimingCache* used = config->getTimingCache()) {
      Owned<nvinfer1::IHostMemory> blob(used->serialize());
      if (blob) write_file_atomically(o.timing_cache_path, blob->data(), blob->size());
    }
  }
}

}  // namespace hrseg::trt
