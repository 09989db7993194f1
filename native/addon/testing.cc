#include "testing.h"

#include <chrono>
#include <memory>
#include <thread>

#include "async_work.h"
#include "errors.h"
#include "hrseg/buffer.h"
#include "hrseg/error.h"
#include "hrseg/cpu_peaks.h"
#include "hrseg/linear.h"
#include "tensor_bridge.h"

namespace hrseg::addon {

namespace {

using Clock = std::chrono::steady_clock;

double arg_number(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsNumber()) throw_error(info.Env(), "INVALID_ARGUMENT", std::string(name) + " must be a number");
  return info[i].As<Napi::Number>().DoubleValue();
}

// scaleInPlace(tensor<float32>, factor): writes into the caller's memory synchronously.
Napi::Value scale_in_place(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto t = borrow_tensor(env, info[0], "tensor");
  if (t.view.dtype != DType::F32) throw_error(env, "INVALID_TENSOR", "tensor: scaleInPlace needs float32");
  const float k = static_cast<float>(arg_number(info, 1, "factor"));
  float* p = t.view.as<float>();
  for (int64_t i = 0; i < t.view.numel(); ++i) p[i] *= k;
  return env.Undefined();
}

// sumLater(tensor<float32>, delayMs, cancel?): waits on a worker thread, then reads the borrowed
// memory. The test drops every JS reference meanwhile; a correct sum shows it stayed alive.
Napi::Value sum_later(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto t = borrow_tensor(env, info[0], "tensor");
  if (t.view.dtype != DType::F32) throw_error(env, "INVALID_TENSOR", "tensor: sumLater needs float32");
  const double delay_ms = arg_number(info, 1, "delayMs");
  auto token = cancel_token_arg(env, info[2]);
  auto sum = std::make_shared<double>(0.0);
  TensorView view = t.view;
  return PromiseWorker::Start(
      env,
      [view, delay_ms, token, sum] {
        auto until = Clock::now() + std::chrono::microseconds(static_cast<int64_t>(delay_ms * 1000));
        while (Clock::now() < until) {
          token->check();
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        const float* p = view.as<float>();
        for (int64_t i = 0; i < view.numel(); ++i) *sum += p[i];
      },
      [sum](Napi::Env e) { return Napi::Number::New(e, *sum); }, {t.keep_alive});
}

// spin(ms, cancel?): keeps a worker thread busy (no sleeping) for `ms`, polling the token.
Napi::Value spin(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const double ms = arg_number(info, 0, "ms");
  auto token = cancel_token_arg(env, info[1]);
  auto iterations = std::make_shared<double>(0.0);
  return PromiseWorker::Start(
      env,
      [ms, token, iterations] {
        auto until = Clock::now() + std::chrono::microseconds(static_cast<int64_t>(ms * 1000));
        volatile double x = 1.0;
        while (Clock::now() < until) {
          for (int i = 0; i < 10000; ++i) x = x * 1.0000001 + 1e-9;
          *iterations += 1;
          token->check();
        }
      },
      [iterations](Napi::Env e) { return Napi::Number::New(e, *iterations); });
}

// fill(dtype, dims, value): an output tensor made on a worker thread, handed to JS zero-copy.
Napi::Value fill(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw_error(env, "INVALID_ARGUMENT", "dtype must be a string");
  auto dtype = dtype_from_name(info[0].As<Napi::String>().Utf8Value());
  if (!dtype) throw_error(env, "INVALID_ARGUMENT", "unknown dtype");
  if (!info[1].IsArray()) throw_error(env, "INVALID_ARGUMENT", "dims must be an array");
  Dims dims;
  Napi::Array a = info[1].As<Napi::Array>();
  for (uint32_t i = 0; i < a.Length(); ++i) {
    Napi::Value d = a.Get(i);
    double v = d.IsNumber() ? d.As<Napi::Number>().DoubleValue() : -1;
    if (!(v >= 0)) throw_error(env, "INVALID_ARGUMENT", "dims must be non-negative");
    dims.push_back(static_cast<int64_t>(v));
  }
  const double value = arg_number(info, 2, "value");
  auto result = std::make_shared<Tensor>();
  DType dt = *dtype;
  return PromiseWorker::Start(
      env,
      [result, dt, dims, value] {
        *result = Tensor(dt, dims);
        const int64_t n = result->numel();
        switch (dt) {
          case DType::F32:
            for (int64_t i = 0; i < n; ++i) result->as<float>()[i] = static_cast<float>(value);
            break;
          case DType::I32:
            for (int64_t i = 0; i < n; ++i) result->as<int32_t>()[i] = static_cast<int32_t>(value);
            break;
          case DType::I64:
            for (int64_t i = 0; i < n; ++i) result->as<int64_t>()[i] = static_cast<int64_t>(value);
            break;
          case DType::U8:
          case DType::Bool:
            for (int64_t i = 0; i < n; ++i) result->as<uint8_t>()[i] = static_cast<uint8_t>(value);
            break;
          case DType::F16:
          case DType::BF16:
            for (int64_t i = 0; i < n; ++i) result->as<uint16_t>()[i] = static_cast<uint16_t>(value);
            break;
        }
      },
      [result](Napi::Env e) -> Napi::Value { return tensor_to_js(e, std::move(*result)); });
}

Napi::Value live_allocations(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("count", static_cast<double>(Buffer::live_count()));
  o.Set("bytes", static_cast<double>(Buffer::live_bytes()));
  return o;
}

Napi::Value set_external_buffers(const Napi::CallbackInfo& info) {
  if (!info[0].IsBoolean()) throw_error(info.Env(), "INVALID_ARGUMENT", "expected a boolean");
  set_external_buffers_enabled(info[0].As<Napi::Boolean>().Value());
  return info.Env().Undefined();
}

// fmaPeak(threads, seconds): the measured fp32 FMA ceiling in FLOP/s (for benchmarks).
Napi::Value fma_peak(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int threads = static_cast<int>(arg_number(info, 0, "threads"));
  const double seconds = arg_number(info, 1, "seconds");
  auto flops = std::make_shared<double>(0.0);
  return PromiseWorker::Start(
      env, [threads, seconds, flops] { *flops = measure_fma_peak(threads, seconds); },
      [flops](Napi::Env e) { return Napi::Number::New(e, *flops); });
}

// cpuPeaks(threads, seconds, bandwidthBytes): [{ name, kind, unit, perSecond }] (bench:peak).
Napi::Value cpu_peaks(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const int threads = static_cast<int>(arg_number(info, 0, "threads"));
  const double seconds = arg_number(info, 1, "seconds");
  const double bytes = arg_number(info, 2, "bandwidthBytes");
  if (threads < 1 || !(seconds > 0) || bytes < 0)
    throw_error(env, "INVALID_ARGUMENT", "cpuPeaks: threads ≥ 1, seconds > 0, bytes ≥ 0");
  auto peaks = std::make_shared<std::vector<hrseg::CpuPeak>>();
  return PromiseWorker::Start(
      env,
      [threads, seconds, bytes, peaks] {
        *peaks = hrseg::measure_cpu_peaks(threads, seconds, static_cast<size_t>(bytes));
      },
      [peaks](Napi::Env e) -> Napi::Value {
        Napi::Array out = Napi::Array::New(e, peaks->size());
        for (size_t i = 0; i < peaks->size(); ++i) {
          const auto& p = (*peaks)[i];
          Napi::Object o = Napi::Object::New(e);
          o.Set("name", p.name);
          o.Set("kind", p.kind);
          o.Set("unit", p.unit);
          o.Set("perSecond", p.per_second);
          out.Set(static_cast<uint32_t>(i), o);
        }
        return out;
      });
}

}  // namespace

Napi::Object testing_exports(Napi::Env env) {
  Napi::Object t = Napi::Object::New(env);
  t.Set("scaleInPlace", Napi::Function::New(env, scale_in_place, "scaleInPlace"));
  t.Set("sumLater", Napi::Function::New(env, sum_later, "sumLater"));
  t.Set("spin", Napi::Function::New(env, spin, "spin"));
  t.Set("fill", Napi::Function::New(env, fill, "fill"));
  t.Set("liveAllocations", Napi::Function::New(env, live_allocations, "liveAllocations"));
  t.Set("fmaPeak", Napi::Function::New(env, fma_peak, "fmaPeak"));
  t.Set("cpuPeaks", Napi::Function::New(env, cpu_peaks, "cpuPeaks"));
  t.Set("setExternalBuffers", Napi::Function::New(env, set_external_buffers, "setExternalBuffers"));
  return t;
}

}  // namespace hrseg::addon
