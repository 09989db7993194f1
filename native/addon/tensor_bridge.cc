#include "tensor_bridge.h"

#include <atomic>
#include <cstring>
#include <limits>
#include <sstream>
#include <string>

#include "errors.h"

namespace hrseg::addon {

namespace {

std::atomic<bool> g_external_buffers{true};

const char* typed_array_name(napi_typedarray_type t) {
  switch (t) {
    case napi_int8_array:
      return "Int8Array";
    case napi_uint8_array:
      return "Uint8Array";
    case napi_uint8_clamped_array:
      return "Uint8ClampedArray";
    case napi_int16_array:
      return "Int16Array";
    case napi_uint16_array:
      return "Uint16Array";
    case napi_int32_array:
      return "Int32Array";
    case napi_uint32_array:
      return "Uint32Array";
    case napi_float32_array:
      return "Float32Array";
    case napi_float64_array:
      return "Float64Array";
    case napi_bigint64_array:
      return "BigInt64Array";
    case napi_biguint64_array:
      return "BigUint64Array";
    default:
      return "a typed array";
  }
}

// The TypedArray kind that holds each dtype natively (outputs use it; inputs accept it, and
// accept a Uint8Array of raw bytes for any dtype, e.g. a Buffer read from a file).
napi_typedarray_type native_array_type(DType d) {
  switch (d) {
    case DType::F32:
      return napi_float32_array;
    case DType::F16:
    case DType::BF16:
      return napi_uint16_array;
    case DType::I32:
      return napi_int32_array;
    case DType::I64:
      return napi_bigint64_array;
    case DType::U8:
    case DType::Bool:
      return napi_uint8_array;
  }
  return napi_uint8_array;
}

void check(Napi::Env env, napi_status status, const char* what) {
  if (status != napi_ok) throw_error(env, "INTERNAL", std::string("Node-API call failed: ") + what);
}

[[noreturn]] void bad(Napi::Env env, const char* what, const std::string& message) {
  throw_error(env, "INVALID_TENSOR", std::string(what) + ": " + message);
}

}  // namespace

void set_external_buffers_enabled(bool enabled) { g_external_buffers.store(enabled); }
bool external_buffers_enabled() { return g_external_buffers.load(); }

BorrowedTensor borrow_tensor(Napi::Env env, Napi::Value value, const char* what) {
  if (!value.IsObject() || value.IsArray()) bad(env, what, "expected a tensor object { dtype, dims, data }");
  Napi::Object obj = value.As<Napi::Object>();

  BorrowedTensor out;
  Napi::Value dtype_v = obj.Get("dtype");
  if (!dtype_v.IsString()) bad(env, what, "dtype must be a string");
  std::string dtype_name_s = dtype_v.As<Napi::String>().Utf8Value();
  auto dtype = dtype_from_name(dtype_name_s);
  if (!dtype)
    bad(env, what,
        "unknown dtype '" + dtype_name_s + "' (expected float32, float16, bfloat16, int32, int64, uint8 or bool)");
  out.view.dtype = *dtype;

  Napi::Value dims_v = obj.Get("dims");
  if (!dims_v.IsArray()) bad(env, what, "dims must be an array of non-negative integers");
  Napi::Array dims = dims_v.As<Napi::Array>();
  const double kMaxSafe = 9007199254740991.0;
  double total = 1;
  for (uint32_t i = 0; i < dims.Length(); ++i) {
    Napi::Value d = dims.Get(i);
    double v = d.IsNumber() ? d.As<Napi::Number>().DoubleValue() : -1;
    if (!(v >= 0) || v != static_cast<double>(static_cast<int64_t>(v)) || v > kMaxSafe) {
      std::ostringstream s;
      s << "dims[" << i << "] must be a non-negative integer";
      bad(env, what, s.str());
    }
    total *= v;
    out.view.dims.push_back(static_cast<int64_t>(v));
  }
  if (total > kMaxSafe) bad(env, what, "the shape has more elements than can be addressed");

  Napi::Value data_v = obj.Get("data");
  if (!data_v.IsTypedArray()) bad(env, what, "data must be a TypedArray");
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  napi_value arraybuffer;
  size_t byte_offset = 0;
  check(env, napi_get_typedarray_info(env, data_v, &type, &length, &data, &arraybuffer, &byte_offset),
        "napi_get_typedarray_info");
  bool detached = false;
  check(env, napi_is_detached_arraybuffer(env, arraybuffer, &detached), "napi_is_detached_arraybuffer");
  if (detached) bad(env, what, "data's ArrayBuffer is detached (it was transferred or freed)");

  napi_typedarray_type want = native_array_type(out.view.dtype);
  const bool raw_bytes = type == napi_uint8_array || type == napi_uint8_clamped_array;
  if (type != want && !raw_bytes) {
    bad(env, what,
        std::string("dtype ") + dtype_name_s + " needs " + typed_array_name(want) +
            " data (or a Uint8Array of raw bytes), got " + typed_array_name(type));
  }
  const size_t elem = dtype_size(out.view.dtype);
  const size_t byte_length = raw_bytes ? length : length * elem;
  const size_t expected = static_cast<size_t>(total) * elem;
  if (byte_length != expected) {
    std::ostringstream s;
    s << "shape " << dims_to_string(out.view.dims) << " of " << dtype_name_s << " needs " << expected
      << " bytes, data has " << byte_length;
    bad(env, what, s.str());
  }
  if (reinterpret_cast<uintptr_t>(data) % elem != 0) {
    std::ostringstream s;
    s << "data is not aligned to its " << elem << "-byte elements (byte offset " << byte_offset
      << "); copy it into a fresh typed array";
    bad(env, what, s.str());
  }
  out.view.data = data;
  out.keep_alive = std::make_shared<Napi::ObjectReference>(Napi::Persistent(data_v.As<Napi::Object>()));
  return out;
}

Napi::Object tensor_to_js(Napi::Env env, Tensor&& tensor) {
  const size_t bytes = static_cast<size_t>(tensor.numel()) * dtype_size(tensor.dtype);
  napi_value arraybuffer = nullptr;
  bool made = false;
  if (external_buffers_enabled()) {
    auto* owner = new Buffer(std::move(tensor.buffer));
    napi_status st = napi_create_external_arraybuffer(
        env, owner->data(), bytes, [](napi_env, void*, void* hint) { delete static_cast<Buffer*>(hint); }, owner,
        &arraybuffer);
    if (st == napi_ok) {
      made = true;
    } else {
      tensor.buffer = std::move(*owner);  // take the memory back for the copy path
      delete owner;
      if (st != napi_no_external_buffers_allowed) check(env, st, "napi_create_external_arraybuffer");
    }
  }
  if (!made) {
    void* dst = nullptr;
    check(env, napi_create_arraybuffer(env, bytes, &dst, &arraybuffer), "napi_create_arraybuffer");
    if (bytes) std::memcpy(dst, tensor.buffer.data(), bytes);
    tensor.buffer = Buffer();  // free the native copy now rather than at scope exit
  }
  napi_typedarray_type type = native_array_type(tensor.dtype);
  const size_t length = bytes / (type == napi_uint8_array ? 1 : dtype_size(tensor.dtype));
  napi_value typed = nullptr;
  check(env, napi_create_typedarray(env, type, length, arraybuffer, 0, &typed), "napi_create_typedarray");

  Napi::Object out = Napi::Object::New(env);
  out.Set("dtype", Napi::String::New(env, dtype_name(tensor.dtype)));
  Napi::Array dims = Napi::Array::New(env, tensor.dims.size());
  for (size_t i = 0; i < tensor.dims.size(); ++i)
    dims.Set(static_cast<uint32_t>(i), Napi::Number::New(env, static_cast<double>(tensor.dims[i])));
  out.Set("dims", dims);
  out.Set("data", Napi::Value(env, typed));
  return out;
}

}  // namespace hrseg::addon
