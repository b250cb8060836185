// Internal to futex.cc and futex_async.cc: argument checks and helpers shared
// by the synchronous and asynchronous futex waits.
#pragma once
#include <linux/futex.h>
#include <time.h>

#include <cstdint>
#include <memory>

#include "addon.h"

namespace multiproc {
namespace futex {

constexpr uint32_t kFutex32 = 2;         // FUTEX2_SIZE_U32: a 32-bit futex (futex_waitv flags)
constexpr uint32_t kFutexPrivate = 128;  // FUTEX2_PRIVATE (== FUTEX_PRIVATE_FLAG)

// CLOCK_MONOTONIC now, in ns.
int64_t NowNs();
// futex_waitv(2) with an absolute CLOCK_MONOTONIC deadline (nullptr: none).
long FutexWaitv(futex_waitv* waiters, unsigned n, const timespec* deadline);
// Throws a RangeError (range) or TypeError.
void Throw(v8::Isolate* isolate, bool range, const char* message);

// The int32 at args[0] (a SharedArrayBuffer) + args[1] (a byte offset,
// 4-aligned, in range). `store` keeps the memory alive while held.
struct Word {
  std::shared_ptr<v8::BackingStore> store;
  uint32_t* addr;
};
// Each returns false after throwing.
bool GetWord(const v8::FunctionCallbackInfo<v8::Value>& args, Word* out);
bool GetExpected(v8::Isolate* isolate, v8::Local<v8::Value> value, uint32_t* out);
bool GetTimeout(v8::Isolate* isolate, v8::Local<v8::Value> value, int64_t* ns);
// 'ok' | 'not-equal' | 'timed-out' | 'cancelled' as an internalized string.
v8::Local<v8::String> ResultString(v8::Isolate* isolate, const char* result);

}  // namespace futex
}  // namespace multiproc
