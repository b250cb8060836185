// The async-wait backend of kernels whose io_uring runs futex waits (Linux
// >= 6.17): futex_async.cc picks it first when its probe passes, unless
// MULTIPROC_FUTEX_URING=0 or MULTIPROC_FUTEX_FALLBACK=1 is set (read once
// per process). The JS-facing contract and the invariants I1-I6
// (futex_async.cc) are the same; only how a wait sleeps differs.
//
// Why: the other backends sleep a waiter thread on the word, which on waking
// pokes the JS thread's event loop (uv_async_send): every wake-up is two
// thread hops, and with both ends on one CPU each hop is a context switch the
// peer waits behind. Here the JS thread's own event loop sleeps on the word:
// each wait is an IORING_OP_FUTEX_WAIT on a per-Environment ring, the ring's
// fd sits in the loop's epoll set (a uv_poll_t), and a FUTEX_WAKE from any
// thread or process completes the request and makes the fd readable: one hop,
// and no thread of ours at all.
//
// How the kernel delivers it: the waker queues task work to the thread that
// submitted the wait (our JS thread) and signals it (TIF_NOTIFY_SIGNAL); the
// thread runs the work on its next way back to user space, which posts the
// completion. A thread asleep in epoll_wait returns EINTR for that (libuv
// retries), one blocked in a sync futex wait or poll(2) has its syscall
// restarted by the kernel, invisibly (as for any signal without a handler);
// the few syscalls that return EINTR instead of restarting (epoll_wait,
// sigtimedwait, sockets with SO_RCVTIMEO) see one, as under any signal, and
// running JS is interrupted briefly to post the completion.
//
// Kernels: the op exists from 6.7, but before 6.17 a FUTEX_WAIT that fails
// at once (the word differs: our common 'not-equal') could free its request
// data twice (fixed upstream by "io_uring/futex: ensure io_futex_wait()
// cleans up properly on failure"). So this backend is used from 6.17 only;
// older kernels (and stable ones that have the fix backported) use waitv. (IORING_SETUP_DEFER_TASKRUN would spare the signal, but
// then the ring's fd never turns readable in epoll until the thread enters
// io_uring itself: measured, the loop sleeps forever.)
//
// A request: the FUTEX_WAIT SQE (user_data = the wait's token; flags
// FUTEX2_SIZE_U32, shared: the word may be another process's mapping too),
// linked to an IORING_OP_LINK_TIMEOUT SQE (user_data 0) when the wait has a
// timeout. Its completion: 0 = woken ('ok'), -EAGAIN = the word differed
// ('not-equal'), -ECANCELED = its timeout fired ('timed-out') or we cancelled
// it (then it is already done, I1, and the completion only frees it). A
// cancel completes the entry at once (as the other backends do) and submits
// IORING_OP_ASYNC_CANCEL for its token; the kernel ends the request soon.
//
// Memory (I2): the ring owns each submitted Entry, and with it the
// BackingStore that keeps the word mapped, until that request's completion
// arrives: the kernel no longer looks at the word after it. At teardown the
// ring's fd is closed (the kernel cancels what is pending) before the
// entries are freed.
//
// Ordering: the SQ and CQ rings are shared with the kernel: the SQ tail is
// published with a release store after the SQE is written, the CQ tail read
// with an acquire load before its CQEs, and the CQ head released after they
// are read (the kernel's side pairs with these). Everything else here is the
// JS thread's alone: no lock, except State::mu around Complete() (I1).
#include <linux/io_uring.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cerrno>
#include <cstring>

#include "futex_async.h"

namespace multiproc {
namespace futex {

namespace {

// Not in the headers this builds with (Linux 6.1's); the kernel ABI since 6.7.
constexpr uint8_t kOpFutexWait = 51;             // IORING_OP_FUTEX_WAIT
constexpr uint64_t kFutexBitsetMatchAny = 0xffffffffu;  // FUTEX_BITSET_MATCH_ANY
constexpr unsigned kSqEntries = 64;    // every call submits at once: at most 2 SQEs queued
constexpr unsigned kCqEntries = 1024;  // more pending waits overflow into the kernel's list (NODROP)
constexpr uint64_t kNoToken = 0;       // user_data of link timeouts and cancel requests
constexpr int kMinMajor = 6, kMinMinor = 17;
constexpr int kWaitWithoutTimeout = -1;  // SubmitWait(): see UringAdd  // the first kernel this backend trusts (see above)

long Setup(unsigned entries, io_uring_params* p) { return syscall(SYS_io_uring_setup, entries, p); }
long Enter(int fd, unsigned submit, unsigned min_complete, unsigned flags) {
  return syscall(SYS_io_uring_enter, fd, submit, min_complete, flags, nullptr, 0);
}

}  // namespace

struct Uring {
  int fd = -1;
  void* rings = MAP_FAILED;
  size_t rings_size = 0;
  io_uring_sqe* sqes = static_cast<io_uring_sqe*>(MAP_FAILED);
  size_t sqes_size = 0;
  unsigned *sq_head, *sq_tail, *sq_mask, *sq_array, *sq_flags;
  unsigned *cq_head, *cq_tail, *cq_mask;
  io_uring_cqe* cqes;
  uv_poll_t poll;
  bool poll_ready = false;
  int failed = 0;  // an errno once the ring cannot be watched (uv_poll_start or poll failed)
  void (*closed)(State*) = nullptr;  // teardown: called once `poll` is closed
  std::unordered_map<uint64_t, std::unique_ptr<Entry>> inflight;  // by token (I2)

  // Maps a ring set up by Setup(); false (errno set) if that fails.
  bool Map(const io_uring_params& p) {
    rings_size = std::max(p.sq_off.array + p.sq_entries * sizeof(unsigned),
                          p.cq_off.cqes + p.cq_entries * sizeof(io_uring_cqe));
    rings = mmap(nullptr, rings_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQ_RING);
    if (rings == MAP_FAILED) return false;
    sqes_size = p.sq_entries * sizeof(io_uring_sqe);
    sqes = static_cast<io_uring_sqe*>(
        mmap(nullptr, sqes_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES));
    if (sqes == MAP_FAILED) return false;
    char* r = static_cast<char*>(rings);
    sq_head = reinterpret_cast<unsigned*>(r + p.sq_off.head);
    sq_tail = reinterpret_cast<unsigned*>(r + p.sq_off.tail);
    sq_mask = reinterpret_cast<unsigned*>(r + p.sq_off.ring_mask);
    sq_array = reinterpret_cast<unsigned*>(r + p.sq_off.array);
    sq_flags = reinterpret_cast<unsigned*>(r + p.sq_off.flags);
    cq_head = reinterpret_cast<unsigned*>(r + p.cq_off.head);
    cq_tail = reinterpret_cast<unsigned*>(r + p.cq_off.tail);
    cq_mask = reinterpret_cast<unsigned*>(r + p.cq_off.ring_mask);
    cqes = reinterpret_cast<io_uring_cqe*>(r + p.cq_off.cqes);
    return true;
  }

  // Sets up and maps a ring; false (errno set) if the kernel refuses.
  bool Open() {
    io_uring_params p;
    memset(&p, 0, sizeof p);
    // SUBMIT_ALL: an SQE that fails at submission completes with its error
    // and the rest of the batch still goes in (never a wait without its timeout).
    p.flags = IORING_SETUP_CQSIZE | IORING_SETUP_SUBMIT_ALL;
    p.cq_entries = kCqEntries;
    fd = static_cast<int>(Setup(kSqEntries, &p));
    if (fd < 0) return false;
    if ((p.features & (IORING_FEAT_SINGLE_MMAP | IORING_FEAT_NODROP)) !=
        (IORING_FEAT_SINGLE_MMAP | IORING_FEAT_NODROP))
      return errno = ENOSYS, false;
    return Map(p);
  }

  ~Uring() {
    if (fd >= 0 && sqes != MAP_FAILED && !inflight.empty()) {
      // Ends every pending wait now, within this call (futex waits are
      // cancelled synchronously), so none lingers on its word absorbing
      // wakes until the kernel's asynchronous ring teardown gets to it.
      Cancel(0, IORING_ASYNC_CANCEL_ALL | IORING_ASYNC_CANCEL_ANY);
    }
    if (sqes != MAP_FAILED) munmap(sqes, sqes_size);
    if (rings != MAP_FAILED) munmap(rings, rings_size);
    if (fd >= 0) close(fd);  // (I2: before `inflight` goes)
  }

  // The SQE `ahead` slots past the tail, cleared (the SQ has room: every call
  // submits what it queued, at most two SQEs).
  io_uring_sqe* Next(unsigned ahead) {
    unsigned index = (*sq_tail + ahead) & *sq_mask;  // only we write the tail
    io_uring_sqe* sqe = &sqes[index];
    memset(sqe, 0, sizeof *sqe);
    sq_array[index] = index;
    return sqe;
  }
  void Publish(unsigned count) {  // release: the SQEs are written before the kernel sees the tail
    __atomic_store_n(sq_tail, *sq_tail + count, __ATOMIC_RELEASE);
  }

  // Submits the `count` SQEs just published. Returns how many the kernel
  // took, or -errno; any it did not take are dropped, so none lingers to be
  // submitted later on its own (a timeout without its wait, a wait whose
  // Entry is gone). With SUBMIT_ALL it takes fewer only when it cannot
  // allocate requests.
  long Submit(unsigned count) {
    long rc;
    while ((rc = Enter(fd, count, 0, 0)) < 0 && errno == EINTR) {
    }
    if (rc < 0) rc = -errno;
    if (rc != static_cast<long>(count))
      __atomic_store_n(sq_tail, __atomic_load_n(sq_head, __ATOMIC_ACQUIRE), __ATOMIC_RELEASE);
    return rc;
  }

  // Cancels the request of `token` (or, with IORING_ASYNC_CANCEL_ANY in
  // `flags`, every one); futex waits end within this call. Best effort: on
  // failure a wait ends when its word is woken, times out, or at teardown.
  void Cancel(uint64_t token, uint32_t flags) {
    io_uring_sqe* cancel = Next(0);
    cancel->opcode = IORING_OP_ASYNC_CANCEL;
    cancel->addr = token;
    cancel->cancel_flags = flags;
    cancel->user_data = kNoToken;
    Publish(1);
    (void)Submit(1);
  }

  // A FUTEX_WAIT on `e` (timeout `ns`, or none when < 0), linked to its timeout.
  int SubmitWait(Entry* e, int64_t ns) {
    io_uring_sqe* wait = Next(0);
    wait->opcode = kOpFutexWait;
    wait->addr = reinterpret_cast<uintptr_t>(e->addr);
    wait->addr2 = e->expected;
    wait->addr3 = kFutexBitsetMatchAny;
    wait->fd = kFutex32;  // futex2 flags: 32-bit, shared (not FUTEX2_PRIVATE)
    wait->user_data = e->token;
    __kernel_timespec ts = {ns / 1000000000, ns % 1000000000};  // copied by the kernel in Submit
    if (ns >= 0) {
      wait->flags = IOSQE_IO_LINK;
      io_uring_sqe* timeout = Next(1);
      timeout->opcode = IORING_OP_LINK_TIMEOUT;
      timeout->addr = reinterpret_cast<uintptr_t>(&ts);
      timeout->len = 1;
      timeout->user_data = kNoToken;
    }
    unsigned count = ns >= 0 ? 2 : 1;
    Publish(count);
    long took = Submit(count);
    if (took == count) return 0;
    if (took > 0) return kWaitWithoutTimeout;  // (the kernel took the wait and not its timeout)
    return took < 0 ? static_cast<int>(-took) : EAGAIN;
  }
};

namespace {

// JS thread: the poll handle saw the ring readable. Completes the entries of
// the completions and frees them, then runs the callbacks.
void OnReadable(uv_poll_t* handle, int status, int events) {
  State* s = static_cast<State*>(handle->data);
  if (s->closing || s->uring == nullptr) return;
  Uring* u = s->uring;
  bool any = false;
  if (status < 0) {
    // The loop cannot watch the ring any more (libuv stops the handle): end
    // every pending wait now with a spurious 'ok' (callers re-check) rather
    // than leave them to hang, and refuse new waits. The requests stay in
    // `inflight` until teardown: the kernel may still hold them (I2).
    u->failed = -status;
    {
      std::lock_guard<std::mutex> lock(s->mu);
      for (auto& [token, e] : u->inflight)
        if (!e->done) Complete(s, e.get(), "ok"), any = true;
    }
    if (any) DeliverCompleted(s);
    return;
  }
  for (;;) {
    unsigned head = *u->cq_head;  // only we write it
    unsigned tail = __atomic_load_n(u->cq_tail, __ATOMIC_ACQUIRE);  // CQEs before tail are written
    {
      std::lock_guard<std::mutex> lock(s->mu);
      for (; head != tail; head++) {
        const io_uring_cqe& cqe = u->cqes[head & *u->cq_mask];
        if (cqe.user_data == kNoToken) continue;
        auto it = u->inflight.find(cqe.user_data);
        if (it == u->inflight.end()) continue;
        Entry* e = it->second.get();
        if (!e->done) {
          Complete(s, e, cqe.res == -EAGAIN ? "not-equal" : cqe.res == -ECANCELED && !e->cut ? "timed-out" : "ok");
          any = true;
        }
        u->inflight.erase(it);  // the kernel is done with the word (I2)
      }
    }
    __atomic_store_n(u->cq_head, head, __ATOMIC_RELEASE);  // the kernel may reuse the slots
    // Completions beyond the CQ's size wait in the kernel's overflow list:
    // io_uring_enter(GETEVENTS) moves them into the ring for another pass.
    if (!(__atomic_load_n(u->sq_flags, __ATOMIC_ACQUIRE) & IORING_SQ_CQ_OVERFLOW)) break;
    Enter(u->fd, 0, 0, IORING_ENTER_GETEVENTS);
  }
  if (any) DeliverCompleted(s);
}

}  // namespace

bool UringSupported() {
  static const bool supported = [] {
    utsname un;
    int major = 0, minor = 0;
    if (uname(&un) != 0 || sscanf(un.release, "%d.%d", &major, &minor) != 2) return false;
    if (major < kMinMajor || (major == kMinMajor && minor < kMinMinor)) return false;
    Uring u;
    if (!u.Open()) return false;
    // A wait on a word that differs completes at once: -EAGAIN where the
    // kernel knows the op, -EINVAL where it does not (before 6.7).
    uint32_t word = 1;
    Entry probe{1, nullptr, &word, 0, kNever};
    if (u.SubmitWait(&probe, -1) != 0) return false;
    while (Enter(u.fd, 0, 1, IORING_ENTER_GETEVENTS) < 0)
      if (errno != EINTR) return false;
    unsigned head = *u.cq_head;
    return head != __atomic_load_n(u.cq_tail, __ATOMIC_ACQUIRE) && u.cqes[head & *u.cq_mask].res == -EAGAIN;
  }();
  return supported;
}

int UringAdd(State* s, std::unique_ptr<Entry> e, int64_t ns) {
  if (s->uring == nullptr) {
    auto u = std::make_unique<Uring>();
    if (!u->Open()) return errno;
    int rc = uv_poll_init(node::GetCurrentEventLoop(s->isolate), &u->poll, u->fd);
    if (rc != 0) return -rc;
    u->poll_ready = true;
    u->poll.data = s;
    uv_unref(reinterpret_cast<uv_handle_t*>(&u->poll));  // the async handle keeps the loop alive (I5)
    u->failed = -uv_poll_start(&u->poll, UV_READABLE, OnReadable);
    s->uring = u.release();  // (kept even if that failed: teardown closes the handle)
  }
  if (s->uring->failed != 0) return s->uring->failed;  // nothing would ever see its completions
  int err = s->uring->SubmitWait(e.get(), ns);
  if (err > 0) return err;
  uint64_t token = e->token;
  if (err == kWaitWithoutTimeout) e->cut = true;  // its completion says 'ok': a spurious wake-up
  s->uring->inflight.emplace(token, std::move(e));
  // A wait the kernel took without its timeout (the request allocation for
  // the timeout failed) might never end: cancel it; the caller re-checks.
  if (err == kWaitWithoutTimeout) UringCancel(s, token);
  return 0;
}

void UringCancel(State* s, uint64_t token) {
  if (s->uring != nullptr) s->uring->Cancel(token, 0);  // (null: torn down, nothing pending)
}

void UringShutdown(State* s, void (*closed)(State*)) {
  Uring* u = s->uring;
  if (u == nullptr || !u->poll_ready) {
    delete u;
    s->uring = nullptr;
    return closed(s);
  }
  u->closed = closed;
  uv_close(reinterpret_cast<uv_handle_t*>(&u->poll), [](uv_handle_t* h) {
    State* state = static_cast<State*>(h->data);
    void (*then)(State*) = state->uring->closed;
    delete state->uring;  // closes the fd, then frees the entries (I2)
    state->uring = nullptr;
    then(state);
  });
}

}  // namespace futex
}  // namespace multiproc
