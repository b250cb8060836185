// copyBytes(target, targetOffset, source, sourceOffset, length): memcpy
// between two Uint8Arrays, either or both over a SharedArrayBuffer.
//
// Why: V8 copies to or from shared memory (TypedArray.prototype.set,
// slice) with relaxed atomic word moves, about half memcpy's speed, and in
// a channel's ring that copy is most of the cost of a large message. The
// ring's protocol already orders every copy: a writer copies a frame and
// then publishes it with Atomics.store(tail); a reader loads tail with
// Atomics before it copies the frame out and frees it with
// Atomics.store(head). Those are sequentially consistent (full barriers),
// and this call is opaque to V8, so a plain memcpy between them is ordered
// exactly as the JS copy it replaces; no two threads touch the same bytes
// at once, so there is no data race.
#include <cmath>
#include <cstring>

#include "addon.h"

namespace multiproc {

namespace {

using v8::FunctionCallbackInfo;
using v8::Isolate;
using v8::Local;
using v8::Value;

void Throw(Isolate* isolate, bool range, const char* message) {
  Local<v8::String> msg = v8::String::NewFromUtf8(isolate, message).ToLocalChecked();
  isolate->ThrowException(range ? v8::Exception::RangeError(msg) : v8::Exception::TypeError(msg));
}

// The bytes of a Uint8Array, or nullptr after throwing.
uint8_t* BytesOf(Isolate* isolate, Local<Value> value, size_t* length) {
  if (!value->IsUint8Array()) return Throw(isolate, false, "expected a Uint8Array"), nullptr;
  Local<v8::Uint8Array> view = value.As<v8::Uint8Array>();
  Local<v8::Value> buffer = view->Buffer();
  void* data = buffer->IsSharedArrayBuffer() ? buffer.As<v8::SharedArrayBuffer>()->Data() : buffer.As<v8::ArrayBuffer>()->Data();
  *length = view->ByteLength();
  return static_cast<uint8_t*>(data) + view->ByteOffset();
}

bool GetIndex(Isolate* isolate, Local<Value> value, size_t limit, size_t* out) {
  if (!value->IsNumber()) return Throw(isolate, false, "offsets and length must be numbers"), false;
  double d = value.As<v8::Number>()->Value();
  if (!(d >= 0 && std::floor(d) == d && d <= static_cast<double>(limit))) return Throw(isolate, true, "offset or length out of range"), false;
  *out = static_cast<size_t>(d);
  return true;
}

void CopyBytes(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  size_t targetLength, sourceLength, targetOffset, sourceOffset, length;
  uint8_t* target = BytesOf(isolate, args[0], &targetLength);
  if (target == nullptr) return;
  uint8_t* source = BytesOf(isolate, args[2], &sourceLength);
  if (source == nullptr) return;
  if (!GetIndex(isolate, args[1], targetLength, &targetOffset) || !GetIndex(isolate, args[3], sourceLength, &sourceOffset) ||
      !GetIndex(isolate, args[4], targetLength - targetOffset, &length))
    return;
  if (length > sourceLength - sourceOffset) return Throw(isolate, true, "offset or length out of range");
  if (length > 0) memmove(target + targetOffset, source + sourceOffset, length);
}

}  // namespace

void InitBytes(Local<v8::Context> context, Local<v8::Object> exports) {
  SetMethod(context, exports, "copyBytes", CopyBytes);
}

}  // namespace multiproc
