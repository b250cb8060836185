// Entry point of the multiproc native addon. The addon is context-aware
// (NODE_MODULE_INIT), so it can be loaded by the main thread and by every
// worker thread. Its only process-global state is shm.cc's registry of
// mappings (one mapping per segment per process); futex_async.cc keeps
// per-Environment state, freed by an Environment cleanup hook.
#include "addon.h"

#include <cerrno>
#include <cstring>
#include <string>

namespace multiproc {

void ThrowErrno(v8::Isolate* isolate, const char* what, int err) {
  std::string msg = std::string(what) + ": " + strerror(err);
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  v8::Local<v8::Value> error =
      v8::Exception::Error(v8::String::NewFromUtf8(isolate, msg.c_str()).ToLocalChecked());
  v8::Local<v8::Object> obj = error.As<v8::Object>();
  obj->Set(context, v8::String::NewFromUtf8Literal(isolate, "errno"), v8::Integer::New(isolate, err))
      .Check();
  const char* code = strerrorname_np(err);
  if (code != nullptr) {
    obj->Set(context, v8::String::NewFromUtf8Literal(isolate, "code"),
             v8::String::NewFromUtf8(isolate, code).ToLocalChecked())
        .Check();
  }
  isolate->ThrowException(error);
}

void SetMethod(v8::Local<v8::Context> context, v8::Local<v8::Object> exports, const char* name,
               v8::FunctionCallback callback, v8::Local<v8::Value> data) {
  v8::Isolate* isolate = context->GetIsolate();
  v8::Local<v8::Function> fn =
      v8::FunctionTemplate::New(isolate, callback, data)->GetFunction(context).ToLocalChecked();
  v8::Local<v8::String> key = v8::String::NewFromUtf8(isolate, name).ToLocalChecked();
  fn->SetName(key);
  exports->Set(context, key, fn).Check();
}

}  // namespace multiproc

NODE_MODULE_INIT(/* exports, module, context */) {
  multiproc::InitProcess(context, exports);
  multiproc::InitShm(context, exports);
  multiproc::InitFutex(context, exports);
  multiproc::InitFutexAsync(context, exports);
  multiproc::InitLiveness(context, exports);
  multiproc::InitBytes(context, exports);
}
