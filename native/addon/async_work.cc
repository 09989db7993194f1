#include "async_work.h"

#include "errors.h"
#include "hrseg/error.h"

namespace hrseg::addon {

namespace {
// Marks objects made by CancelHandle's constructor, so that an unrelated wrapped object passed as
// a handle is refused instead of being reinterpreted.
constexpr napi_type_tag kCancelHandleTag = {0x6872736567636e6cULL, 0x48616e646c650001ULL};
}  // namespace

PromiseWorker::PromiseWorker(Napi::Env env, Work work, Finish finish,
                             std::vector<std::shared_ptr<Napi::ObjectReference>> keep)
    : Napi::AsyncWorker(env, "hrseg"),
      deferred_(Napi::Promise::Deferred::New(env)),
      work_(std::move(work)),
      finish_(std::move(finish)),
      keep_(std::move(keep)) {}

Napi::Promise PromiseWorker::Start(Napi::Env env, Work work, Finish finish,
                                   std::vector<std::shared_ptr<Napi::ObjectReference>> keep) {
  auto* worker = new PromiseWorker(env, std::move(work), std::move(finish), std::move(keep));
  Napi::Promise promise = worker->deferred_.Promise();
  worker->Queue();  // the worker deletes itself after OnOK/OnError
  return promise;
}

void PromiseWorker::Execute() {
  try {
    work_();
  } catch (const hrseg::Error& e) {
    code_ = error_code_name(e.code());
    SetError(e.what());
  } catch (const CodedError& e) {
    code_ = e.code;
    SetError(e.what());
  } catch (const std::bad_alloc&) {
    code_ = "OUT_OF_MEMORY";
    SetError("native memory allocation failed");
  } catch (const std::exception& e) {
    code_ = "INTERNAL";
    SetError(e.what());
  } catch (...) {
    code_ = "INTERNAL";
    SetError("unknown native exception");
  }
}

void PromiseWorker::OnOK() {
  Napi::Env env = Env();
  try {
    deferred_.Resolve(finish_ ? finish_(env) : env.Undefined());
  } catch (const Napi::Error& e) {
    deferred_.Reject(e.Value());
  } catch (const hrseg::Error& e) {
    deferred_.Reject(make_error(env, error_code_name(e.code()), e.what()).Value());
  } catch (const std::exception& e) {
    deferred_.Reject(make_error(env, "INTERNAL", e.what()).Value());
  }
}

void PromiseWorker::OnError(const Napi::Error& error) {
  deferred_.Reject(make_error(Env(), code_.c_str(), error.Message()).Value());
}

Napi::Function CancelHandle::Define(Napi::Env env) {
  return DefineClass(
      env, "CancelHandle",
      {InstanceMethod<&CancelHandle::Cancel>("cancel"), InstanceAccessor<&CancelHandle::Cancelled>("cancelled")});
}

CancelHandle::CancelHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CancelHandle>(info) {
  napi_type_tag_object(info.Env(), info.This(), &kCancelHandleTag);
}

Napi::Value CancelHandle::Cancel(const Napi::CallbackInfo& info) {
  token_->cancel();
  return info.Env().Undefined();
}

Napi::Value CancelHandle::Cancelled(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), token_->cancelled());
}

CancelTokenPtr cancel_token_arg(Napi::Env env, Napi::Value value) {
  if (value.IsUndefined() || value.IsNull()) return std::make_shared<CancelToken>();
  if (!value.IsObject()) throw_error(env, "INVALID_ARGUMENT", "expected a CancelHandle");
  bool tagged = false;
  napi_check_object_type_tag(env, value, &kCancelHandleTag, &tagged);
  if (!tagged) throw_error(env, "INVALID_ARGUMENT", "expected a CancelHandle");
  CancelHandle* handle = nullptr;
  napi_status st = napi_unwrap(env, value, reinterpret_cast<void**>(&handle));
  if (st != napi_ok || handle == nullptr) throw_error(env, "INVALID_ARGUMENT", "expected a CancelHandle");
  return handle->token();
}

}  // namespace hrseg::addon
