// Internal to futex_async.cc (the JS-facing functions and the futex_waitv
// backend) and futex_fallback.cc (the backend for kernels without
// futex_waitv). The invariants I1-I6 are stated in futex_async.cc.
#pragma once
#include <pthread.h>
#include <signal.h>
#include <uv.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "futex.h"

namespace multiproc {
namespace futex {

constexpr int64_t kNever = INT64_MAX;

struct Shard;  // futex_async.cc: a thread in futex_waitv on up to 127 words
struct Pool;   // futex_fallback.cc: threads in FUTEX_WAIT, one word each
struct Uring;  // futex_uring.cc: the JS thread's io_uring, polled by its event loop

struct Entry {
  uint64_t token;
  std::shared_ptr<v8::BackingStore> store;  // keeps `addr` mapped (I2)
  uint32_t* addr;
  uint32_t expected;
  int64_t deadline;        // CLOCK_MONOTONIC ns, or kNever
  Shard* shard = nullptr;  // futex_waitv mode; null in fallback mode
  bool done = false;       // a result was queued (I1)
  bool asleep = false;     // fallback mode: its thread is in (or about to enter) FUTEX_WAIT
  bool cut = false;        // uring mode: cancelled by us, not by its timeout: its end is 'ok'
};

struct State {
  v8::Isolate* isolate;
  v8::Global<v8::Context> context;
  node::AsyncCleanupHookHandle cleanup_handle;
  void (*cleanup_done)(void*) = nullptr;
  void* cleanup_arg = nullptr;

  // Shared with the waiter threads; guarded by mu.
  std::mutex mu;
  bool shutdown = false;
  std::vector<std::unique_ptr<Shard>> shards;  // waitv mode; never shrinks before teardown
  Pool* pool = nullptr;                        // fallback mode; made on first use, freed at teardown
  std::unordered_map<uint64_t, Entry*> live;   // pending entries by token (I1)
  std::vector<std::pair<uint64_t, const char*>> completed;

  // JS thread only.
  Uring* uring = nullptr;  // uring mode; made on first use, freed at teardown
  uv_async_t async;
  bool async_ready = false;
  bool closing = false;
  uint64_t next_token = 0;
  std::unordered_map<uint64_t, v8::Global<v8::Function>> callbacks;
};

// Requires mu. The one exit from `live` (I1).
void Complete(State* s, Entry* e, const char* result);
// JS thread, without mu: runs the callbacks of the queued results.
void DeliverCompleted(State* s);

// Starts a waiter thread running `fn`, with every signal blocked (it inherits
// our mask): process signals are then handled by Node's threads, not by ours.
// Returns 0 or an errno.
template <class F>
int StartThread(std::thread* out, F&& fn) {
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int err = 0;
  try {
    *out = std::thread(std::forward<F>(fn));
  } catch (const std::system_error& e) {
    err = e.code().value();
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return err;
}

// How this process's async waits sleep; decided once per process, at the
// addon's first load: io_uring where the kernel runs futex waits there
// (futex_uring.cc), else futex_waitv (futex_async.cc), else classic futexes
// (futex_fallback.cc). MULTIPROC_FUTEX_URING=0 skips the first,
// MULTIPROC_FUTEX_FALLBACK=1 forces the last.
enum class Mode { kUring, kWaitv, kFallback };
Mode AsyncMode();

// futex_uring.cc; "JS thread" functions run on the State's own thread.
//
// Whether io_uring runs futex waits here (Linux >= 6.17, not refused by a
// seccomp filter or io_uring_disabled); probed once per process.
bool UringSupported();
// JS thread, without mu. Submits `e`'s wait (timeout `ns`, none when < 0),
// making the ring on first use; the ring then owns `e`. 0, or an errno (then
// `e` is dropped untouched). The caller puts it in `live` after.
int UringAdd(State* s, std::unique_ptr<Entry> e, int64_t ns);
// JS thread, without mu, after Complete(e, 'cancelled'): ends the request.
void UringCancel(State* s, uint64_t token);
// JS thread, at teardown: closes the ring's poll handle and the ring, frees
// its entries, then calls `closed`.
void UringShutdown(State* s, void (*closed)(State*));

// futex_fallback.cc. "JS thread" functions run on the State's own thread.
// Requires mu. Hands `e` (already in `live`) to a fallback thread, starting
// one if none is idle. Returns 0, or an errno (then `e` is dropped untouched).
int FallbackAdd(State* s, std::unique_ptr<Entry> e);
// JS thread, after Complete(e) under mu found e->asleep: ends e's FUTEX_WAIT
// (and, spuriously, every other waiter's on that word). Called without mu;
// `store` (copied under mu) keeps the word mapped.
void FallbackInterrupt(uint32_t* addr, const std::shared_ptr<v8::BackingStore>& store);
// JS thread, without mu: joins the fallback threads that ended (idle spares).
void FallbackReap(State* s);
// JS thread, without mu, after shutdown was set: ends and joins every
// fallback thread, then frees the pool (entries and their BackingStores).
void FallbackShutdown(State* s);

}  // namespace futex
}  // namespace multiproc
