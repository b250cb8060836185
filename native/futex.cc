// Futex wait/wake on SharedArrayBuffer memory, across processes.
//
// V8's Atomics.wait/notify only work between threads of one process (V8 keeps
// its own waiter lists). A raw Linux futex *without* FUTEX_PRIVATE_FLAG is
// keyed by the physical page (inode + offset for a shared mapping), so a wake
// in one process reaches a waiter in another that mapped the same segment.
// It works on any SAB: on process-private memory it is keyed by address and
// still works between threads of this process.
//
//   futexWait(sab, off, expected, ms)   sleeps the calling thread (FUTEX_WAIT).
//   futexWake(sab, off, count)          FUTEX_WAKE.
//   futexWaitAsync(..., callback)       the same wait without blocking JS:
//                                       futex_async.cc.
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cmath>

#include "futex.h"

namespace multiproc {
namespace futex {

using v8::FunctionCallbackInfo;
using v8::Isolate;
using v8::Local;
using v8::Value;

int64_t NowNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

long FutexWaitv(futex_waitv* waiters, unsigned n, const timespec* deadline) {
  return syscall(SYS_futex_waitv, waiters, n, 0, deadline, CLOCK_MONOTONIC);
}

void Throw(Isolate* isolate, bool range, const char* message) {
  Local<v8::String> s = v8::String::NewFromUtf8(isolate, message).ToLocalChecked();
  isolate->ThrowException(range ? v8::Exception::RangeError(s) : v8::Exception::TypeError(s));
}

bool GetWord(const FunctionCallbackInfo<Value>& args, Word* out) {
  Isolate* isolate = args.GetIsolate();
  if (!args[0]->IsSharedArrayBuffer()) return Throw(isolate, false, "expected a SharedArrayBuffer"), false;
  if (!args[1]->IsNumber()) return Throw(isolate, false, "byteOffset must be a number"), false;
  double off = args[1].As<v8::Number>()->Value();
  out->store = args[0].As<v8::SharedArrayBuffer>()->GetBackingStore();
  if (!(off >= 0 && std::floor(off) == off && off + 4 <= out->store->ByteLength()))
    return Throw(isolate, true, "byteOffset out of range"), false;
  if (static_cast<size_t>(off) % 4 != 0) return Throw(isolate, true, "byteOffset must be a multiple of 4"), false;
  // Data() is at least 8-aligned (mmap: page-aligned), so addr is 4-aligned.
  out->addr = reinterpret_cast<uint32_t*>(static_cast<char*>(out->store->Data()) + static_cast<size_t>(off));
  return true;
}

bool GetExpected(Isolate* isolate, Local<Value> value, uint32_t* out) {
  if (!value->IsNumber()) return Throw(isolate, false, "expected value must be a number"), false;
  // ToInt32, then compared as the kernel does: as 32 raw bits.
  *out = static_cast<uint32_t>(value->Int32Value(isolate->GetCurrentContext()).FromJust());
  return true;
}

// Timeout in ms -> ns, or -1 for "forever" (undefined, NaN, negative, Infinity,
// or beyond ~31 years).
bool GetTimeout(Isolate* isolate, Local<Value> value, int64_t* ns) {
  if (value->IsUndefined()) return *ns = -1, true;
  if (!value->IsNumber()) return Throw(isolate, false, "timeout must be a number"), false;
  double ms = value.As<v8::Number>()->Value();
  *ns = (ms >= 0 && ms <= 1e12) ? static_cast<int64_t>(ms * 1e6) : -1;
  return true;
}

Local<v8::String> ResultString(Isolate* isolate, const char* result) {
  return v8::String::NewFromUtf8(isolate, result, v8::NewStringType::kInternalized).ToLocalChecked();
}

}  // namespace futex

namespace {

using namespace futex;  // NOLINT
using v8::FunctionCallbackInfo;
using v8::Isolate;
using v8::Value;

// futexWait(sab, byteOffset, expected, timeoutMs) -> 'ok' | 'not-equal' | 'timed-out'
void FutexWait(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  Word word;
  uint32_t expected;
  int64_t ns;
  if (!GetWord(args, &word) || !GetExpected(isolate, args[2], &expected) || !GetTimeout(isolate, args[3], &ns))
    return;
  timespec rel = {static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
  // No memory fence needed around it: the kernel compares *addr with
  // `expected` under its hash-bucket lock, serialized with FUTEX_WAKE, so a
  // store + futexWake by the waker cannot slip between check and sleep.
  long rc = syscall(SYS_futex, word.addr, FUTEX_WAIT, expected, ns < 0 ? nullptr : &rel, nullptr, 0);
  const char* result = "ok";
  if (rc != 0) {
    if (errno == EAGAIN) result = "not-equal";
    else if (errno == ETIMEDOUT) result = "timed-out";
    else if (errno != EINTR) return ThrowErrno(isolate, "futex(FUTEX_WAIT)", errno);
    // EINTR: a signal; report 'ok' (callers re-check their condition anyway).
  }
  args.GetReturnValue().Set(ResultString(isolate, result));
}

// futexWake(sab, byteOffset, count) -> number of waiters woken (this process
// and others). count: undefined, Infinity or >= 2^31-1 wake all.
void FutexWake(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  Word word;
  if (!GetWord(args, &word)) return;
  int count = INT_MAX;
  if (!args[2]->IsUndefined()) {
    if (!args[2]->IsNumber()) return Throw(isolate, false, "count must be a number");
    double d = args[2].As<v8::Number>()->Value();
    count = d >= INT_MAX ? INT_MAX : d >= 1 ? static_cast<int>(d) : 0;  // NaN -> 0
  }
  long rc = syscall(SYS_futex, word.addr, FUTEX_WAKE, count, nullptr, nullptr, 0);
  if (rc < 0) return ThrowErrno(isolate, "futex(FUTEX_WAKE)", errno);
  args.GetReturnValue().Set(static_cast<double>(rc));
}
}  // namespace

void InitFutex(v8::Local<v8::Context> context, v8::Local<v8::Object> exports) {
  SetMethod(context, exports, "futexWait", FutexWait);
  SetMethod(context, exports, "futexWake", FutexWake);
}

}  // namespace multiproc
