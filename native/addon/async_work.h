// Runs native work on libuv's worker threads and settles a Promise on the JS thread.
// Everything the work touches from JS (borrowed tensors) is kept alive by the worker until it
// is destroyed, which happens on the JS thread after the Promise is settled.
#pragma once
#include <napi.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "hrseg/cancel.h"

namespace hrseg::addon {

class PromiseWorker : public Napi::AsyncWorker {
 public:
  using Work = std::function<void()>;                    // worker thread; may throw
  using Finish = std::function<Napi::Value(Napi::Env)>;  // JS thread; builds the result

  // Queues the work and returns the Promise. `keep` holds JS objects alive until completion.
  static Napi::Promise Start(Napi::Env env, Work work, Finish finish,
                             std::vector<std::shared_ptr<Napi::ObjectReference>> keep = {});

 protected:
  void Execute() override;
  void OnOK() override;
  void OnError(const Napi::Error& error) override;

 private:
  PromiseWorker(Napi::Env env, Work work, Finish finish, std::vector<std::shared_ptr<Napi::ObjectReference>> keep);

  Napi::Promise::Deferred deferred_;
  Work work_;
  Finish finish_;
  std::vector<std::shared_ptr<Napi::ObjectReference>> keep_;
  std::string code_ = "INTERNAL";
};

// JS-visible cancellation handle: lib/abort.ts creates one per call and cancels it when the
// caller's AbortSignal fires; native work polls the shared token.
class CancelHandle : public Napi::ObjectWrap<CancelHandle> {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit CancelHandle(const Napi::CallbackInfo& info);
  const CancelTokenPtr& token() const { return token_; }

 private:
  Napi::Value Cancel(const Napi::CallbackInfo& info);
  Napi::Value Cancelled(const Napi::CallbackInfo& info);
  CancelTokenPtr token_ = std::make_shared<CancelToken>();
};

// Reads an optional CancelHandle argument (undefined/null → a token nobody cancels).
CancelTokenPtr cancel_token_arg(Napi::Env env, Napi::Value value);

}  // namespace hrseg::addon
