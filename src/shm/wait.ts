// Wait and wake on a word of shared memory, for threads and processes alike.
//
// Every waitable word has a sleepers counter in the next int32: wait() counts
// itself there while it sleeps, and wake() makes a syscall only when the count
// is non-zero. Correctness (no lost wake-up): the waker stores the new value
// and then reads the counter; the sleeper increments the counter and then
// reads the value (inside futex_wait, atomically with going to sleep). All
// four are sequentially consistent (Atomics, and the kernel's futex check), so
// either the waker sees the sleeper or the sleeper sees the new value.
//
// With the native addon, sleeping is a process-shared futex (it wakes across
// processes); without it, Atomics.wait / waitAsync (threads of one process).
// A wait first spins a little, as the wait policy allows (wait-policy.ts).
import { native } from '../native.js';
import { SPIN_MS, SPIN_READS_ASYNC, SPIN_READS_SYNC, spinEnded, spinMs, spinReads } from './wait-policy.js';

const addon = native();

function spinUntilChanged(i32: Int32Array, index: number, expected: number, spins: number): boolean {
  for (let i = 0; i < spins; i++) if (Atomics.load(i32, index) !== expected) return true;
  return false;
}

/** Runs a spin of `budget` (reads or ms; none when 0) and reports how it ended to the wait policy. */
function spun(spin: (i32: Int32Array, index: number, expected: number, budget: number) => boolean, i32: Int32Array, index: number, expected: number, budget: number): boolean {
  if (budget <= 0) return false;
  const changed = spin(i32, index, expected, budget);
  spinEnded(changed);
  return changed;
}

/** spinUntilChanged() for up to `ms`. */
function spinUntilChangedFor(i32: Int32Array, index: number, expected: number, ms: number): boolean {
  const until = performance.now() + ms;
  do {
    if (spinUntilChanged(i32, index, expected, 64)) return true;
  } while (performance.now() < until);
  return false;
}

function clampTimeout(timeoutMs: number | undefined): number {
  return timeoutMs === undefined || timeoutMs === Infinity ? Infinity : Math.max(0, timeoutMs);
}

/**
 * Work this thread's event loop would do that a blocked thread must do
 * itself: a queue's feeder, which writes what put() buffered, is an async
 * task and cannot run while the thread blocks (queues/queue.ts). Each hook
 * writes what it can now and returns whether work is left; while any is,
 * a blocking wait sleeps at most POLL_MS at a time and tries again.
 */
const whileBlocked = new Set<() => boolean>();
const POLL_MS = 1;

/** Registers (`on`) or removes a hook that a blocking wait of this thread runs first. */
export function runWhileBlocked(hook: () => boolean, on: boolean): void {
  if (on) whileBlocked.add(hook);
  else whileBlocked.delete(hook);
}

/** Runs the hooks; true when one of them has work left. */
function blockedWorkLeft(): boolean {
  let left = false;
  for (const hook of whileBlocked) if (hook()) left = true;
  return left;
}

/**
 * Blocks this thread while i32[index] === expected, up to `timeoutMs`.
 * Returns false on timeout, true otherwise (changed, woken, or spuriously: re-check).
 */
export function waitSync(i32: Int32Array, index: number, expected: number, timeoutMs?: number): boolean {
  if (spun(spinUntilChanged, i32, index, expected, spinReads(SPIN_READS_SYNC))) return true;
  let timeout = clampTimeout(timeoutMs);
  let polling = false;
  if (whileBlocked.size > 0 && blockedWorkLeft() && timeout > POLL_MS) {
    timeout = POLL_MS; // (a wake-up after this short sleep is a spurious one for the caller, who re-checks)
    polling = true;
  }
  Atomics.add(i32, index + 1, 1);
  try {
    const result = addon ? addon.futexWait(i32.buffer as SharedArrayBuffer, i32.byteOffset + index * 4, expected, timeout) : Atomics.wait(i32, index, expected, timeout);
    return polling || result !== 'timed-out';
  } finally {
    Atomics.sub(i32, index + 1, 1);
  }
}

/** Asynchronous waits of this thread still pending (their callbacks need its event loop). */
let asyncWaits = 0;

/**
 * Whether this thread has asynchronous waits pending: a pending addon wait
 * needs the event loop to turn for its callback, yet it is not among the
 * resources process.getActiveResourcesInfo() lists.
 */
export function asyncWaitsPending(): boolean {
  return asyncWaits > 0;
}

/** Takes an async wait on i32[index] out of the counts: it ended, or the addon refused to start it. */
function uncount(i32: Int32Array, index: number): void {
  asyncWaits--;
  Atomics.sub(i32, index + 1, 1);
}

/**
 * Starts the addon's async wait; returns its token. If the addon refuses it
 * (it throws: out of threads, fds or memory), the wait is uncounted and the
 * error rethrown: inside a Promise executor, that rejects the promise.
 */
function startAddonWait(i32: Int32Array, index: number, expected: number, timeout: number, done: (result: string) => void): number {
  try {
    return addon!.futexWaitAsync(i32.buffer as SharedArrayBuffer, i32.byteOffset + index * 4, expected, timeout, done);
  } catch (err) {
    uncount(i32, index);
    throw err;
  }
}

/** waitSync without blocking the thread. An aborted `signal` rejects with its reason. */
export function waitAsync(i32: Int32Array, index: number, expected: number, timeoutMs?: number, signal?: AbortSignal): Promise<boolean> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  const changed = asyncWaits === 0
    ? spun(spinUntilChangedFor, i32, index, expected, spinMs(SPIN_MS.soleAsyncWait))
    : spun(spinUntilChanged, i32, index, expected, spinReads(SPIN_READS_ASYNC));
  if (changed) return Promise.resolve(true);
  const timeout = clampTimeout(timeoutMs);
  Atomics.add(i32, index + 1, 1);
  asyncWaits++;
  if (addon && !signal) {
    // The common case, with the fewest allocations (a ping-pong makes one of
    // these per message): nothing can cancel it.
    return new Promise<boolean>((resolve) => {
      startAddonWait(i32, index, expected, timeout, (result) => {
        uncount(i32, index);
        resolve(result !== 'timed-out');
      });
    });
  }
  return new Promise<boolean>((resolve, reject) => {
    let settled = false;
    const settle = (value: boolean | undefined, error?: unknown) => {
      if (settled) return;
      settled = true;
      uncount(i32, index);
      signal?.removeEventListener('abort', onAbort);
      if (error !== undefined) reject(error);
      else resolve(value!);
    };
    let cancel: () => void = () => {};
    const onAbort = () => {
      cancel();
      settle(undefined, signal!.reason);
    };
    if (addon) {
      const token = startAddonWait(i32, index, expected, timeout, (result) => {
        if (result !== 'cancelled') settle(result !== 'timed-out');
      });
      cancel = () => addon.futexWaitAsyncCancel(token);
    } else {
      const r = Atomics.waitAsync(i32, index, expected, timeout);
      if (!r.async) settle(r.value !== 'timed-out');
      else {
        // A pending Atomics.waitAsync does not keep the event loop alive: a
        // program awaiting it could exit (code 13, unsettled await) when the
        // thread that would wake it ends first. A timer does, as the addon's
        // pending waits do (futex_async.cc, I5).
        const keepAlive = setInterval(() => {}, 2 ** 30);
        cancel = () => clearInterval(keepAlive);
        // Atomics.waitAsync cannot be cancelled: an aborted wait lingers until woken or timed out, harmlessly.
        void r.value.then((v) => {
          clearInterval(keepAlive);
          settle(v !== 'timed-out');
        });
      }
    }
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** Wakes up to `count` sleepers on i32[index]. Call after storing the new value. */
export function wake(i32: Int32Array, index: number, count = Infinity): void {
  if (Atomics.load(i32, index + 1) === 0) return; // nobody sleeps: no syscall
  if (addon) addon.futexWake(i32.buffer as SharedArrayBuffer, i32.byteOffset + index * 4, count);
  else Atomics.notify(i32, index, count);
}
