// futexWaitAsync / futexWaitAsyncCancel: futex waits (see futex.cc) that do
// not block the JS thread; the callback runs later on its event loop.
// futexAsyncMode() says which of three backends this process uses (the
// choice: AsyncMode, futex_async.h):
//  - uring (futex_uring.cc, Linux >= 6.17): the event loop itself sleeps on
//    the words, through io_uring; no thread of ours;
//  - waitv (below, Linux >= 5.16): waiter threads in futex_waitv(2);
//  - fallback (futex_fallback.cc): a thread in classic FUTEX_WAIT per wait.
//
// waitv design: per Environment (main thread or worker) a State owns up to
// ceil(pending / 127) waiter threads ("shards"). Each sleeps in one
// futex_waitv(2) on its pending words plus a private control word; the JS
// thread changes a shard's set under State::mu and then bumps and wakes the
// control word, so the shard re-reads the set. Results go to State::completed
// and reach JS through one uv_async_t; callbacks run on the event loop.
//
// futex_waitv is probed (WaitvSupported): ENOSYS on older kernels, EPERM
// under a seccomp filter that does not know it. Everything else here --
// tokens, results, callbacks, ref, teardown -- is the same for all three;
// the shard-specific parts are marked "waitv mode".
//
// Invariants (all guarded by State::mu unless noted):
//  I1. Each token gets exactly one result: an Entry is in `live` iff it is
//      pending; Complete() is the only way out of `live` and queues the result.
//  I2. An Entry (and the BackingStore it holds, so the word stays mapped) is
//      destroyed only by the thread that waits on it, when no futex call of
//      that thread is reading the word; or at teardown after the threads are
//      joined. (Fallback mode: an interrupter copies the BackingStore first.
//      Uring mode: the ring owns it until the kernel reports its request
//      done, or until teardown has cancelled everything and closed the ring.)
//  I3. (waitv mode) A shard sleeps on at most FUTEX_WAITV_MAX - 1 = 127
//      pending words (Shard::pending counts them); more waits get more shards.
//  I4. (waitv mode) Shard::ctl changes only under mu, and the thread reads it
//      under mu before sleeping; so any set change after that read makes its
//      futex_waitv return at once (EAGAIN on the control word) or wakes it.
//  I5. The uv_async_t is ref'd iff some callback is registered (JS thread
//      only): pending waits keep the loop alive, an idle program exits.
//  I6. The uv_async_t is closed only after every waiter thread is joined, so
//      no uv_async_send can reach a closed handle: teardown sets shutdown,
//      ends and joins every thread, and only then closes the handle (after
//      the ring's poll handle, in uring mode, which sends nothing to it).
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>

#include "futex_async.h"

namespace multiproc {
namespace futex {

// waitv mode.
struct Shard {
  State* state;
  std::thread thread;
  std::atomic<uint32_t> ctl{0};                  // control futex word (I4)
  bool sleeping = false;                         // in (or about to enter) futex_waitv
  size_t pending = 0;                            // entries not done (I3)
  std::vector<std::unique_ptr<Entry>> entries;   // pending + done-not-yet-reaped
};

// Requires mu. The one exit from `live` (I1).
void Complete(State* s, Entry* e, const char* result) {
  e->done = true;
  if (e->shard != nullptr) e->shard->pending--;
  s->live.erase(e->token);
  s->completed.emplace_back(e->token, result);
}

}  // namespace futex

namespace {

using namespace futex;  // NOLINT
using v8::FunctionCallbackInfo;
using v8::Isolate;
using v8::Local;
using v8::Value;

constexpr size_t kMaxPerShard = FUTEX_WAITV_MAX - 1;  // slot 0 is the control word

// Requires mu. Makes the shard re-read its set (I4); returns whether the
// caller must FUTEX_WAKE its control word after unlocking.
bool Bump(Shard* sh) {
  sh->ctl.fetch_add(1, std::memory_order_relaxed);  // ordered by mu for the shard's read
  return sh->sleeping;
}
void WakeCtl(Shard* sh) {
  syscall(SYS_futex, &sh->ctl, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

void RunShard(Shard* sh) {
  State* s = sh->state;
  futex_waitv waits[FUTEX_WAITV_MAX];
  Entry* snap[FUTEX_WAITV_MAX];  // snap[i] waits on waits[i]; i >= 1
  bool notify = false;           // results were queued: poke the JS thread
  std::unique_lock<std::mutex> lock(s->mu);
  while (!s->shutdown) {
    // Expire, reap and snapshot. Reaping here is safe (I2): we are not in
    // futex_waitv. Dropping an Entry may drop the last BackingStore ref and
    // munmap; that takes RegistryMutex (shm.cc) under mu: the lock order is
    // mu -> RegistryMutex, and shm.cc never takes mu.
    int64_t now = NowNs(), nearest = kNever;
    unsigned n = 1;
    for (size_t i = 0; i < sh->entries.size();) {
      Entry* e = sh->entries[i].get();
      if (!e->done && e->deadline <= now) Complete(s, e, "timed-out"), notify = true;
      if (e->done) {
        sh->entries[i] = std::move(sh->entries.back());
        sh->entries.pop_back();
        continue;
      }
      if (e->deadline < nearest) nearest = e->deadline;
      waits[n] = {e->expected, reinterpret_cast<uintptr_t>(e->addr), kFutex32, 0};
      snap[n++] = e;
      ++i;
    }
    // Read under mu (I4): a change made after this makes the wait below fail
    // with EAGAIN, or wakes it.
    waits[0] = {sh->ctl.load(std::memory_order_relaxed), reinterpret_cast<uintptr_t>(&sh->ctl),
                kFutex32 | kFutexPrivate, 0};
    sh->sleeping = true;
    lock.unlock();
    if (notify) uv_async_send(&s->async), notify = false;  // handle still open (I6)
    timespec ts = {static_cast<time_t>(nearest / 1000000000), static_cast<long>(nearest % 1000000000)};
    long rc = FutexWaitv(waits, n, nearest == kNever ? nullptr : &ts);
    int err = errno;
    lock.lock();
    sh->sleeping = false;
    // Entries in snap[] are still alive: only this thread destroys them (I2).
    if (rc > 0 || (rc < 0 && err == EAGAIN)) {
      // rc > 0: waits[rc] was woken. futex_waitv reports only one index even
      // when several of our futexes were woken at once; the others' wakes are
      // consumed and lost to us. Two remedies:
      //  - every entry on the woken word is told 'ok' (one futexWake of a word
      //    several of our waits share wakes several of them at once; a
      //    spurious 'ok' is allowed: callers re-check their condition);
      //  - as after EAGAIN (some value differed when the kernel queued us),
      //    every value is checked: a waiter whose word no longer holds
      //    `expected` is told 'not-equal'.
      // What can still be lost: a wake of a *different* word that did not
      // change that word, racing with this wake. Waiters on a word must pair
      // each wake with a store to it (every primitive of ours does).
      uint32_t* woken = rc > 0 ? snap[rc]->addr : nullptr;
      for (unsigned i = 1; i < n; i++) {
        Entry* e = snap[i];
        if (e->done) continue;
        if (e->addr == woken) Complete(s, e, "ok"), notify = true;
        else if (__atomic_load_n(e->addr, __ATOMIC_SEQ_CST) != e->expected)
          Complete(s, e, "not-equal"), notify = true;
      }
    } else if (rc < 0 && err != ETIMEDOUT && err != EINTR) {
      // Unexpected (EFAULT, ENOMEM, ...): a spurious 'ok' for each rather than
      // spinning here; callers re-check and may wait again.
      for (unsigned i = 1; i < n; i++)
        if (!snap[i]->done) Complete(s, snap[i], "ok"), notify = true;
    }
    // rc == 0 (control word), ETIMEDOUT (the loop top expires), EINTR: re-loop.
  }
}

// Whether this kernel has futex_waitv (Linux >= 5.16); probed once per process.
bool WaitvSupported() {
  static std::atomic<int> known{0};
  int k = known.load(std::memory_order_relaxed);
  if (k == 0) {
    uint32_t word = 0;
    futex_waitv w = {1, reinterpret_cast<uintptr_t>(&word), kFutex32 | kFutexPrivate, 0};
    k = (FutexWaitv(&w, 1, nullptr) < 0 && errno == EAGAIN) ? 1 : -1;  // 0 != 1: returns at once
    known.store(k, std::memory_order_relaxed);  // a racing probe stores the same
  }
  return k > 0;
}

// JS thread. Keeps the loop alive iff a callback is pending (I5).
void UpdateRef(State* s) {
  if (s->callbacks.empty()) uv_unref(reinterpret_cast<uv_handle_t*>(&s->async));
  else uv_ref(reinterpret_cast<uv_handle_t*>(&s->async));
}

}  // namespace

// A function-local static: initialized exactly once, thread-safely.
futex::Mode futex::AsyncMode() {
  static const Mode mode = [] {
    auto set = [](const char* name, const char* value) {
      const char* v = getenv(name);
      return v != nullptr && strcmp(v, value) == 0;
    };
    if (set("MULTIPROC_FUTEX_FALLBACK", "1")) return Mode::kFallback;
    if (!set("MULTIPROC_FUTEX_URING", "0") && UringSupported()) return Mode::kUring;
    return WaitvSupported() ? Mode::kWaitv : Mode::kFallback;
  }();
  return mode;
}

// Declared in futex_async.h; here for UpdateRef and the names above.
void futex::DeliverCompleted(State* s) {
  if (s->closing) return;
  std::vector<std::pair<uint64_t, const char*>> done;
  {
    std::lock_guard<std::mutex> lock(s->mu);
    done.swap(s->completed);
  }
  Isolate* isolate = s->isolate;
  v8::HandleScope scope(isolate);
  Local<v8::Context> context = s->context.Get(isolate);
  v8::Context::Scope context_scope(context);
  for (auto& [token, result] : done) {
    auto it = s->callbacks.find(token);
    if (it == s->callbacks.end()) continue;
    Local<v8::Function> fn = it->second.Get(isolate);
    s->callbacks.erase(it);
    Local<Value> argv[1] = {ResultString(isolate, result)};
    // MakeCallback drains nextTicks and microtasks after the call; an
    // exception goes to 'uncaughtException' like any callback's.
    (void)node::MakeCallback(isolate, context->Global(), fn, 1, argv, {0, 0});
    if (s->closing || isolate->IsExecutionTerminating()) return;
  }
  UpdateRef(s);
  if (s->pool != nullptr) FallbackReap(s);  // `pool` is set and cleared by this thread only
}

namespace {

// JS thread, on the event loop: results queued by a waiter thread, or at once.
void OnAsync(uv_async_t* handle) { DeliverCompleted(static_cast<State*>(handle->data)); }

// futexWaitAsync(sab, byteOffset, expected, timeoutMs, callback) -> token
void FutexWaitAsync(const FunctionCallbackInfo<Value>& args) {
  Isolate* isolate = args.GetIsolate();
  State* s = static_cast<State*>(args.Data().As<v8::External>()->Value());
  Word word;
  uint32_t expected;
  int64_t ns;
  if (!GetWord(args, &word) || !GetExpected(isolate, args[2], &expected) || !GetTimeout(isolate, args[3], &ns))
    return;
  if (!args[4]->IsFunction()) return Throw(isolate, false, "callback must be a function");
  if (s->closing) return Throw(isolate, false, "the environment is shutting down");
  if (!s->async_ready) {
    int rc = uv_async_init(node::GetCurrentEventLoop(isolate), &s->async, OnAsync);
    if (rc != 0) return ThrowErrno(isolate, "uv_async_init", -rc);
    s->async.data = s;
    s->async_ready = true;
  }
  uint64_t token = ++s->next_token;
  // Decided now, as Atomics.waitAsync does: a word that already differs, or a
  // zero timeout, never reaches a shard. Still reported asynchronously.
  const char* now = __atomic_load_n(word.addr, __ATOMIC_SEQ_CST) != expected ? "not-equal"
                    : ns == 0                                                ? "timed-out"
                                                                             : nullptr;
  Shard* wake = nullptr;
  // The pending wait's Entry (each backend takes it; waitv mode names its shard).
  auto entry = [&](Shard* sh) {
    int64_t deadline = ns < 0 ? kNever : NowNs() + ns;
    return std::unique_ptr<Entry>(new Entry{token, std::move(word.store), word.addr, expected, deadline, sh});
  };
  if (now == nullptr && AsyncMode() == Mode::kUring) {
    auto e = entry(nullptr);
    Entry* raw = e.get();
    int err = UringAdd(s, std::move(e), ns);
    if (err != 0) return ThrowErrno(isolate, "futexWaitAsync: io_uring", err);
    std::lock_guard<std::mutex> lock(s->mu);
    s->live[token] = raw;
  } else {
    std::lock_guard<std::mutex> lock(s->mu);
    if (now != nullptr) {
      s->completed.emplace_back(token, now);
    } else if (AsyncMode() == Mode::kFallback) {
      auto e = entry(nullptr);
      Entry* raw = e.get();
      int err = FallbackAdd(s, std::move(e));
      if (err != 0) return ThrowErrno(isolate, "futexWaitAsync: thread", err);
      s->live[token] = raw;
    } else {
      Shard* sh = nullptr;
      for (auto& candidate : s->shards)
        if (candidate->pending < kMaxPerShard) { sh = candidate.get(); break; }
      if (sh == nullptr) {  // all full (or none yet): one more thread (I3)
        auto fresh = std::make_unique<Shard>();
        fresh->state = s;
        Shard* raw = fresh.get();
        int err = StartThread(&fresh->thread, [raw] { RunShard(raw); });  // it blocks on mu at first
        if (err != 0) return ThrowErrno(isolate, "futexWaitAsync: thread", err);
        sh = raw;
        s->shards.push_back(std::move(fresh));
      }
      sh->entries.push_back(entry(sh));
      sh->pending++;
      s->live[token] = sh->entries.back().get();
      if (Bump(sh)) wake = sh;
    }
  }
  if (wake != nullptr) WakeCtl(wake);
  if (now != nullptr) uv_async_send(&s->async);
  s->callbacks.emplace(token, v8::Global<v8::Function>(isolate, args[4].As<v8::Function>()));
  UpdateRef(s);
  args.GetReturnValue().Set(static_cast<double>(token));
}

// futexWaitAsyncCancel(token) -> true if it was pending; its callback then
// runs with 'cancelled' (asynchronously). false if it already has a result.
void FutexWaitAsyncCancel(const FunctionCallbackInfo<Value>& args) {
  State* s = static_cast<State*>(args.Data().As<v8::External>()->Value());
  if (!args[0]->IsNumber()) return Throw(args.GetIsolate(), false, "token must be a number");
  double t = args[0].As<v8::Number>()->Value();
  if (!(t >= 1 && t <= 9007199254740992.0) || s->closing) return args.GetReturnValue().Set(false);
  Shard* wake = nullptr;
  uint32_t* interrupt = nullptr;
  std::shared_ptr<v8::BackingStore> keep;  // keeps `interrupt` mapped until it is done (I2)
  {
    std::lock_guard<std::mutex> lock(s->mu);
    auto it = s->live.find(static_cast<uint64_t>(t));
    if (it == s->live.end()) return args.GetReturnValue().Set(false);
    Entry* e = it->second;
    Complete(s, e, "cancelled");
    // Wake the thread that sleeps on it, so it reaps the entry (dropping its
    // BackingStore) and stops waiting on the word. waitv mode: its shard.
    // Fallback mode: its own thread, if asleep; else it is queued, or its
    // thread is awake and will see `done` under mu.
    if (e->shard != nullptr) {
      if (Bump(e->shard)) wake = e->shard;
    } else if (e->asleep) {
      interrupt = e->addr;
      keep = e->store;
    }
  }
  if (wake != nullptr) WakeCtl(wake);
  if (interrupt != nullptr) FallbackInterrupt(interrupt, keep);
  if (AsyncMode() == Mode::kUring) UringCancel(s, static_cast<uint64_t>(t));
  uv_async_send(&s->async);
  args.GetReturnValue().Set(true);
}

// Environment teardown (main thread at exit, or a worker ending, with waits
// pending or not). Async hook: Node keeps running the loop until we call
// `done`, which we do once the uv handle is closed.
void Finish(State* s) {
  void (*done)(void*) = s->cleanup_done;
  void* arg = s->cleanup_arg;
  delete s;  // deleting the hook handle after the hook started is a no-op
  done(arg);
}
void Cleanup(void* arg, void (*done)(void*), void* done_arg) {
  State* s = static_cast<State*>(arg);
  s->closing = true;
  s->cleanup_done = done;
  s->cleanup_arg = done_arg;
  std::vector<Shard*> wake;
  {
    std::lock_guard<std::mutex> lock(s->mu);
    s->shutdown = true;
    for (auto& sh : s->shards) Bump(sh.get()), wake.push_back(sh.get());
  }
  for (Shard* sh : wake) WakeCtl(sh), sh->thread.join();  // I6
  s->shards.clear();     // entries and their BackingStores; no thread left
  FallbackShutdown(s);   // the same for the fallback's threads (I6)
  s->callbacks.clear();  // Globals are reset on the JS thread, isolate alive
  s->context.Reset();
  UringShutdown(s, [](State* s) {  // the ring's poll handle first, then the async handle (I6)
    if (!s->async_ready) return Finish(s);
    uv_close(reinterpret_cast<uv_handle_t*>(&s->async),
             [](uv_handle_t* h) { Finish(static_cast<State*>(h->data)); });
  });
}

// futexAsyncMode() -> 'uring' | 'waitv' | 'fallback': how this process's
// async waits sleep (futex_async.h, AsyncMode).
void FutexAsyncMode(const FunctionCallbackInfo<Value>& args) {
  Mode mode = AsyncMode();
  args.GetReturnValue().Set(ResultString(
      args.GetIsolate(), mode == Mode::kUring ? "uring" : mode == Mode::kWaitv ? "waitv" : "fallback"));
}

}  // namespace

void InitFutexAsync(Local<v8::Context> context, Local<v8::Object> exports) {
  Isolate* isolate = context->GetIsolate();
  AsyncMode();  // reads the environment now, at load, rather than at some later wait
  // One State per load of the addon in an Environment; freed by Cleanup.
  State* s = new State;
  s->isolate = isolate;
  s->context.Reset(isolate, context);
  s->cleanup_handle = node::AddEnvironmentCleanupHook(isolate, Cleanup, s);
  Local<v8::External> data = v8::External::New(isolate, s);
  SetMethod(context, exports, "futexWaitAsync", FutexWaitAsync, data);
  SetMethod(context, exports, "futexWaitAsyncCancel", FutexWaitAsyncCancel, data);
  SetMethod(context, exports, "futexAsyncMode", FutexAsyncMode);
}

}  // namespace multiproc
