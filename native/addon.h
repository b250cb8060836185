// Shared declarations for the multiproc native addon.
// Each concern lives in its own file and registers its functions on the
// exports object through an Init* function called from addon.cc.
#pragma once
#include <node.h>
#include <v8.h>

namespace multiproc {

// Throws a JS Error whose message is `what: strerror(err)` and carries `errno`/`code`.
void ThrowErrno(v8::Isolate* isolate, const char* what, int err);
// exports[name] = function; `data` (optional) is the callback's args.Data().
void SetMethod(v8::Local<v8::Context> context, v8::Local<v8::Object> exports,
               const char* name, v8::FunctionCallback callback,
               v8::Local<v8::Value> data = v8::Local<v8::Value>());

void InitProcess(v8::Local<v8::Context> context, v8::Local<v8::Object> exports);
void InitShm(v8::Local<v8::Context> context, v8::Local<v8::Object> exports);
void InitFutex(v8::Local<v8::Context> context, v8::Local<v8::Object> exports);
void InitFutexAsync(v8::Local<v8::Context> context, v8::Local<v8::Object> exports);
void InitLiveness(v8::Local<v8::Context> context, v8::Local<v8::Object> exports);
void InitBytes(v8::Local<v8::Context> context, v8::Local<v8::Object> exports);

}  // namespace multiproc
