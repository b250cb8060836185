// The async-wait backend for kernels without futex_waitv(2): Linux < 5.16
// (Ubuntu 22.04's 5.15, RHEL 9's 5.14, Debian 11's 5.10), or a seccomp filter
// that refuses it. futex_async.cc picks it when its probe fails, or when
// MULTIPROC_FUTEX_FALLBACK=1 is set (read once per process; tests use it).
// The JS-facing contract and the invariants I1-I6 (futex_async.cc) are the
// same; only how a wait sleeps differs.
//
// Design: classic futex(2) sleeps on one word, so each pending wait gets a
// thread of its own, in FUTEX_WAIT_BITSET on the word with an absolute
// CLOCK_MONOTONIC deadline (re-entering the wait keeps the deadline). The
// threads are a per-State pool: a new wait goes to an idle thread, or a new
// one is started; a thread whose wait ended takes the next queued wait, or
// idles; beyond kSpares idle threads it ends, and the JS thread joins it
// (FallbackReap). So N pending waits cost N threads, and an idle program a few.
//
// Ending a sleep early (cancel, teardown): there is no control word to wake,
// so the entry is marked under mu and the word itself gets a FUTEX_WAKE of
// every waiter (FallbackInterrupt). That also wakes, spuriously, the other
// waiters on that word, in any process. Allowed: a futex wait's 'ok' means
// "woken, or spuriously: re-check", and every waiter here re-checks: the
// callers of shm/wait.ts's waitSync/waitAsync all loop on their condition
// (drive.ts operations, rings, queues, the pool), and the other async waits
// on the word report 'ok' and are re-checked the same way. A signal instead
// (pthread_kill, a no-op handler, EINTR) would wake only our thread, but needs
// a signal number no one else uses and a process-wide handler, and it has the
// same race:
//
// The race: the interrupt can come after the thread decided to sleep (under
// mu) but before the kernel queued it on the word; the wake finds nobody and
// the thread sleeps on. Nothing closes that window from user space (the
// kernel checks the word, which is not ours to change, not our flag). So a
// sleep lasts at most kRecheckNs, after which the thread re-checks its entry
// under mu: a lost interrupt costs a thread lingering up to 1 s, never a
// wrong or late result (the result was queued when the entry was marked).
// Teardown does not wait that long: it repeats the interrupt every
// millisecond until every thread is out. Between two such sleeps a wake that
// did not change the word is missed, as when a shard re-loops: wakers pair
// each wake with a store (futex_async.cc), and the store is then seen.
//
// Memory ordering: every field here (Pool, Worker, Entry::done/asleep) is
// read and written under State::mu, which orders them; State::pool is set
// and cleared by the JS thread only, before starting / after joining the
// threads that read it. The word itself is
// read only by the kernel (FUTEX_WAIT compares it atomically with queueing
// us, serialized with FUTEX_WAKE), so no fence is needed around the calls.
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <deque>

#include "futex_async.h"

namespace multiproc {
namespace futex {

namespace {

constexpr size_t kSpares = 4;                  // idle threads kept for the next waits
constexpr int64_t kRecheckNs = 1000000000;     // longest single sleep (see "The race")

struct Worker {
  std::thread thread;
  std::unique_ptr<Entry> entry;  // the wait it serves; null when idle
  bool ended = false;            // left its loop: to be joined
};

}  // namespace

struct Pool {
  std::vector<std::unique_ptr<Worker>> workers;  // running, or ended and not yet joined
  std::deque<std::unique_ptr<Entry>> queue;      // waits no thread has taken yet
  std::condition_variable idle_cv;               // idle threads wait here, with mu
  size_t idle = 0;                               // threads waiting on idle_cv (notified or not)
};

namespace {

void Serve(State* s, Worker* w) {
  Pool* p = s->pool;  // set before the first thread starts; freed after all are joined
  bool notify = false;
  std::unique_lock<std::mutex> lock(s->mu);
  for (;;) {
    if (notify) {  // results were queued: poke the JS thread, then look again
      notify = false;
      lock.unlock();
      uv_async_send(&s->async);  // the handle is closed only after we are joined (I6)
      lock.lock();
      continue;
    }
    if (s->shutdown) break;
    if (!w->entry) {
      if (!p->queue.empty()) {
        w->entry = std::move(p->queue.front());
        p->queue.pop_front();
        continue;
      }
      if (p->idle >= kSpares) break;
      ++p->idle;
      p->idle_cv.wait(lock);  // FallbackAdd, shutdown, or spurious: look again
      --p->idle;
      continue;
    }
    Entry* e = w->entry.get();
    int64_t now = NowNs();
    if (!e->done && e->deadline <= now) Complete(s, e, "timed-out"), notify = true;
    if (e->done) {
      // Reaped here, out of FUTEX_WAIT (I2). Dropping the last BackingStore
      // ref may munmap under mu: lock order mu -> RegistryMutex, as shards.
      w->entry.reset();
      continue;
    }
    int64_t until = std::min(e->deadline, now + kRecheckNs);
    e->asleep = true;  // from here until we relock, an interrupt must FUTEX_WAKE us
    lock.unlock();
    timespec ts = {static_cast<time_t>(until / 1000000000), static_cast<long>(until % 1000000000)};
    // Not FUTEX_PRIVATE: the word may be shared with other processes, whose
    // wakes must find us (futex.cc). No FUTEX_CLOCK_REALTIME: `ts` is an
    // absolute CLOCK_MONOTONIC time.
    long rc = syscall(SYS_futex, e->addr, FUTEX_WAIT_BITSET, e->expected, &ts, nullptr, FUTEX_BITSET_MATCH_ANY);
    int err = errno;
    lock.lock();
    e->asleep = false;
    if (e->done) continue;  // cancelled meanwhile: reaped at the top
    if (rc == 0) Complete(s, e, "ok"), notify = true;
    else if (err == EAGAIN) Complete(s, e, "not-equal"), notify = true;
    // Unexpected (EFAULT, ...): a spurious 'ok' rather than spinning here.
    else if (err != ETIMEDOUT && err != EINTR) Complete(s, e, "ok"), notify = true;
    // ETIMEDOUT (the deadline, or only the recheck cap) and EINTR: the top decides.
  }
  bool spare = !s->shutdown;
  w->entry.reset();  // at shutdown: still pending, but no result is delivered any more
  w->ended = true;
  lock.unlock();
  // A spare too many: the JS thread joins it on its next turn (OnAsync).
  if (spare) uv_async_send(&s->async);
}

}  // namespace

int FallbackAdd(State* s, std::unique_ptr<Entry> e) {
  if (s->pool == nullptr) s->pool = new Pool;  // JS thread, under mu
  Pool* p = s->pool;
  if (p->queue.size() + 1 <= p->idle) {
    // Enough idle threads to take every queued wait: each notify_one reaches a
    // thread still blocked, or all idle ones are already notified and each
    // takes one queued wait when it runs.
    p->queue.push_back(std::move(e));
    p->idle_cv.notify_one();
    return 0;
  }
  auto w = std::make_unique<Worker>();
  Worker* raw = w.get();
  int err = StartThread(&w->thread, [s, raw] { Serve(s, raw); });  // it blocks on mu at first
  if (err != 0) return err;
  p->workers.push_back(std::move(w));
  p->queue.push_back(std::move(e));
  return 0;
}

void FallbackInterrupt(uint32_t* addr, const std::shared_ptr<v8::BackingStore>& store) {
  // Every waiter: ours cannot be singled out among the word's waiters.
  syscall(SYS_futex, addr, FUTEX_WAKE, INT_MAX, nullptr, nullptr, 0);
}

void FallbackReap(State* s) {
  std::vector<std::unique_ptr<Worker>> ended;
  {
    std::lock_guard<std::mutex> lock(s->mu);
    auto& all = s->pool->workers;
    for (size_t i = 0; i < all.size();) {
      if (all[i]->ended) {
        ended.push_back(std::move(all[i]));
        all[i] = std::move(all.back());
        all.pop_back();
      } else {
        ++i;
      }
    }
  }
  // Each set `ended` as its last step under mu: joining takes a moment at most.
  for (auto& w : ended) w->thread.join();
}

void FallbackShutdown(State* s) {
  Pool* p = s->pool;
  if (p == nullptr) return;
  for (;;) {
    std::vector<std::pair<uint32_t*, std::shared_ptr<v8::BackingStore>>> asleep;
    bool running = false;
    {
      std::lock_guard<std::mutex> lock(s->mu);
      p->idle_cv.notify_all();
      for (auto& w : p->workers) {
        running = running || !w->ended;
        if (w->entry && w->entry->asleep) asleep.emplace_back(w->entry->addr, w->entry->store);
      }
    }
    if (!running) break;
    for (auto& [addr, store] : asleep) FallbackInterrupt(addr, store);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  for (auto& w : p->workers) w->thread.join();
  delete p;  // the queued entries and their BackingStores; no thread left
  s->pool = nullptr;
}

}  // namespace futex
}  // namespace multiproc
