#include "mapped_file_binding.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>

#include "errors.h"
#include "hrseg/mapped_file.h"
#include "async_work.h"
#include "hrseg/resident_pages.h"
#include "tensor_bridge.h"

namespace hrseg::addon {

namespace {

using Handle = std::shared_ptr<const MappedFile>;

const Handle& unwrap(Napi::Env env, Napi::Value v) {
  if (!v.IsExternal()) throw_error(env, "INVALID_ARGUMENT", "expected a mapped-file handle");
  return *v.As<Napi::External<Handle>>().Data();
}

// Byte positions arrive as JS numbers: integers below 2^53, checked against the file here.
uint64_t position(Napi::Env env, Napi::Value v, const char* what) {
  if (!v.IsNumber()) throw_error(env, "INVALID_ARGUMENT", std::string(what) + " must be a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0) || d > 9007199254740991.0 || d != static_cast<double>(static_cast<uint64_t>(d)))
    throw_error(env, "INVALID_ARGUMENT", std::string(what) + " must be a non-negative integer");
  return static_cast<uint64_t>(d);
}

Napi::Value map_file(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw_error(env, "INVALID_ARGUMENT", "mapFile: path must be a string");
  const std::string path = info[0].As<Napi::String>().Utf8Value();
  Handle file = guard(env, [&] { return MappedFile::open(path); });
  Napi::Object o = Napi::Object::New(env);
  o.Set("handle", Napi::External<Handle>::New(env, new Handle(file), [](Napi::Env, Handle* h) { delete h; }));
  o.Set("size", static_cast<double>(file->size()));
  return o;
}

// An ArrayBuffer over [offset, offset + length) of the mapping, without a copy: it holds the
// mapping alive until it is collected. Where external buffers are refused (Electron) the bytes
// are copied. Callers must not ask twice for the same range (V8 may refuse two ArrayBuffers over
// one pointer): lib/checkpoint/source.ts keeps one view per range.
Napi::Value map_view(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Handle& file = unwrap(env, info[0]);
  const uint64_t offset = position(env, info[1], "offset"), length = position(env, info[2], "length");
  if (offset > file->size() || length > file->size() - offset)
    throw_error(env, "MODEL_FILE",
                file->path() + ": bytes " + std::to_string(offset) + ".." + std::to_string(offset + length) +
                    " lie outside the file (" + std::to_string(file->size()) + " bytes)");
  if (length == 0) return Napi::ArrayBuffer::New(env, 0);
  const uint8_t* data = file->data() + offset;
  if (external_buffers_enabled()) {
    auto* keep = new Handle(file);
    napi_value ab = nullptr;
    napi_status st = napi_create_external_arraybuffer(
        env, const_cast<uint8_t*>(data), length, [](napi_env, void*, void* hint) { delete static_cast<Handle*>(hint); },
        keep, &ab);
    if (st == napi_ok) return Napi::Value(env, ab);
    delete keep;
    if (st != napi_no_external_buffers_allowed) throw_error(env, "INTERNAL", "napi_create_external_arraybuffer failed");
  }
  Napi::ArrayBuffer copy = Napi::ArrayBuffer::New(env, length);
  std::memcpy(copy.Data(), data, length);
  return copy;
}

// Tells the kernel that [offset, offset + length) will not be needed soon, so a converter that
// streams a checkpoint larger than RAM does not keep every page it has read resident. The mapping
// is private and read-only: a later read simply faults the bytes in from the file again.
Napi::Value map_release(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const Handle& file = unwrap(env, info[0]);
  const uint64_t offset = position(env, info[1], "offset"), length = position(env, info[2], "length");
  if (!file->data() || offset >= file->size()) return env.Undefined();
  const uint64_t page = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  const uint64_t end = std::min<uint64_t>(offset + length, file->size());
  const uint64_t first = (offset + page - 1) / page * page, last = end / page * page;  // whole pages inside
  if (last > first) madvise(const_cast<uint8_t*>(file->data()) + first, last - first, MADV_DONTNEED);
  return env.Undefined();
}

// The folder argument of releaseFilePages and prefetchFilePages: an absolute path (an empty or
// relative prefix would match other mappings than the caller's).
std::string folder_prefix(const Napi::CallbackInfo& info, const char* fn) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) throw_error(env, "INVALID_ARGUMENT", std::string(fn) + ": prefix must be a string");
  std::string prefix = info[0].As<Napi::String>().Utf8Value();
  if (prefix.size() < 2 || prefix[0] != '/')
    throw_error(env, "INVALID_ARGUMENT", std::string(fn) + ": prefix must be an absolute folder, got '" + prefix + "'");
  return prefix;
}

// releaseFilePages(prefix): the resident pages of this process's private file mappings under
// `prefix` handed back to the page cache (hrseg/resident_pages.h); { bytes, mappings, skipped }.
Napi::Value release_file_pages_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string prefix = folder_prefix(info, "releaseFilePages");
  const ReleasedPages r = release_file_pages(prefix);
  Napi::Object o = Napi::Object::New(env);
  o.Set("bytes", static_cast<double>(r.bytes));
  o.Set("mappings", r.mappings);
  o.Set("skipped", r.skipped);
  return o;
}

Napi::Value trim_heap_js(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), trim_heap()); }

// prefetchFilePages(prefix): asks the kernel to read the pages behind this process's private file
// mappings under `prefix` into the page cache (hrseg/resident_pages.h), on a worker thread, since
// queueing gigabytes of reads can take a while; a Promise of the bytes advised.
Napi::Value prefetch_file_pages_js(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string prefix = folder_prefix(info, "prefetchFilePages");
  auto bytes = std::make_shared<uint64_t>(0);
  return PromiseWorker::Start(
      env, [prefix, bytes] { *bytes = prefetch_file_pages(prefix); },
      [bytes](Napi::Env e) { return Napi::Number::New(e, static_cast<double>(*bytes)); });
}

}  // namespace

void register_mapped_file(Napi::Env env, Napi::Object exports) {
  exports.Set("mapFile", Napi::Function::New(env, map_file, "mapFile"));
  exports.Set("mapView", Napi::Function::New(env, map_view, "mapView"));
  exports.Set("mapRelease", Napi::Function::New(env, map_release, "mapRelease"));
  exports.Set("releaseFilePages", Napi::Function::New(env, release_file_pages_js, "releaseFilePages"));
  exports.Set("trimHeap", Napi::Function::New(env, trim_heap_js, "trimHeap"));
  exports.Set("prefetchFilePages", Napi::Function::New(env, prefetch_file_pages_js, "prefetchFilePages"));
}

}  // namespace hrseg::addon
