// Condition: Python's multiprocessing.Condition over a Lock or (the default)
// an RLock.
//
// One word counts both the waiters W (bits 0-14) and the signals S (bits
// 16-30) issued for them by notify():
//   enter   (under the lock, before releasing it)   W += 1
//   notify(n) (under the lock)                       S += min(n, W - S), then wake that many sleepers
//   consume (a waiter that finds S > 0)              W -= 1, S -= 1   → wait() returns true
//   leave   (timeout with S == 0, or abort)          W -= 1           → wait() returns false
// Invariant: 0 <= S <= W. Every change is one compareExchange of the whole
// word, so the two counts can never be seen (or changed) out of step: a
// waiter that times out while a signal is pending takes it (returns true)
// rather than leaving it behind, so no stale signal can wake a later waiter
// that nobody notified; an aborted waiter leaves a pending signal to the
// other waiters when there are more waiters than signals, and takes it
// otherwise. notify(n) therefore wakes exactly min(n, waiters) waiters.
//
// Memory ordering: waiters register (enter) before they release the lock and
// notify() runs while holding it, so a notify that follows a wait() in lock
// order always counts that waiter. Sleepers sleep on the word itself with the
// value they last read (shm/wait.ts): notify changes the word before it
// wakes, so a sleeper either is woken or sees the new value when it goes to
// sleep. All accesses are Atomics (sequentially consistent), which is all
// this needs: there is no other data to order.
//
// Words: [0] W | S << 16, [1] sleepers.
import { registerHandleType, shareable, type HandleData } from '../codec/handles.js';
import { ProcessError } from '../errors.js';
import { deadlineOf, runAsync, runSync, signalOf, sliceUntil, type AcquireOptions, type Operation } from '../shm/drive.js';
import { wake } from '../shm/wait.js';
import type { BlockHandle } from '../shm/arena.js';
import { Lock } from './lock.js';
import { RLock } from './rlock.js';
import { rejecting, SharedWords, type Guard } from './shared-words.js';

const WORD = 0;
const WAITER = 1;
const SIGNAL = 1 << 16;
const MAX_WAITERS = 0x7fff;
const waitersOf = (v: number) => v & 0xffff;
const signalsOf = (v: number) => v >>> 16;

/** Counts this thread in as a waiter (the caller holds the lock). */
function enter(i32: Int32Array): void {
  if (waitersOf(Atomics.add(i32, WORD, WAITER)) >= MAX_WAITERS) {
    Atomics.sub(i32, WORD, WAITER);
    throw new RangeError(`a Condition supports at most ${MAX_WAITERS} waiters at once`);
  }
}

/** Takes a signal (true) or leaves at the deadline (false); an abort leaves (see above) and rethrows. */
function* takeSignal(i32: Int32Array, deadline: number): Operation<boolean> {
  for (;;) {
    const v = Atomics.load(i32, WORD);
    if (signalsOf(v) > 0) {
      if (Atomics.compareExchange(i32, WORD, v, v - SIGNAL - WAITER) === v) return true;
      continue;
    }
    if (Date.now() >= deadline) {
      if (Atomics.compareExchange(i32, WORD, v, v - WAITER) === v) return false;
      continue;
    }
    try {
      yield { i32, index: WORD, expected: v, ms: sliceUntil(deadline) };
    } catch (err) {
      leaveAborted(i32);
      throw err;
    }
  }
}

function leaveAborted(i32: Int32Array): void {
  for (;;) {
    const v = Atomics.load(i32, WORD);
    // Leaving with S == W would strand a signal with no waiter for it: take it instead.
    const next = signalsOf(v) < waitersOf(v) ? v - WAITER : v - SIGNAL - WAITER;
    if (Atomics.compareExchange(i32, WORD, v, next) !== v) continue;
    // The wake-up meant for that signal may have reached this waiter: pass it on.
    if (signalsOf(next) > 0) wake(i32, WORD, 1);
    return;
  }
}

export class Condition {
  readonly #words: SharedWords;
  readonly #i32: Int32Array;
  readonly #lock: Lock;

  constructor(lock?: Lock, attach?: never) {
    if (lock !== undefined && !(lock instanceof Lock)) throw new TypeError('Condition(lock): lock must be a Lock or an RLock');
    this.#lock = lock ?? new RLock();
    this.#words = attach ?? SharedWords.allocate(2, this);
    this.#i32 = this.#words.i32;
  }

  acquire(options?: AcquireOptions | number): Promise<boolean> {
    return this.#lock.acquire(options);
  }
  acquireSync(options?: AcquireOptions | number): boolean {
    return this.#lock.acquireSync(options);
  }
  release(): void {
    this.#lock.release();
  }
  withLock<T>(fn: () => T | Promise<T>): Promise<T> {
    return this.#lock.withLock(fn);
  }
  lockSync(options?: AcquireOptions | number): Guard {
    return this.#lock.lockSync(options);
  }
  lock(options?: AcquireOptions | number): Promise<Guard> {
    return this.#lock.lock(options);
  }
  /** The underlying Lock or RLock. */
  get _lock(): Lock {
    return this.#lock;
  }

  #checkOwned(what: string): void {
    if (!this.#lock.isMine()) throw new ProcessError(`must acquire() the condition before using ${what}()`);
  }

  /** wait() as an operation: release the lock, take a signal or time out, re-acquire. */
  *_waitOp(deadline: number): Operation<boolean> {
    this.#checkOwned('wait');
    enter(this.#i32); // before releasing the lock: a notify() after this sees us
    const depth = this.#lock._releaseAll();
    try {
      return yield* takeSignal(this.#i32, deadline);
    } finally {
      // Not abortable (shm/drive.ts): wait() always returns holding the lock,
      // taking it over if its holder died meanwhile.
      yield* this.#lock._acquireOp(Infinity);
      this.#lock._restore(depth);
    }
  }

  *_waitForOp<T>(predicate: () => T, deadline: number): Operation<T> {
    let result = predicate();
    while (!result && Date.now() < deadline) {
      yield* this._waitOp(deadline);
      result = predicate();
    }
    return result;
  }

  /** Releases the lock, waits for notify() (true) or the timeout (false), and re-acquires the lock. */
  wait(timeout?: number | AcquireOptions): Promise<boolean> {
    return rejecting(() => runAsync(this._waitOp(deadlineOf(timeout)), signalOf(timeout)));
  }

  waitSync(timeout?: number | AcquireOptions): boolean {
    return runSync(this._waitOp(deadlineOf(timeout)));
  }

  /** Waits until `predicate()` is truthy (checked under the lock); returns its last value. */
  waitFor<T>(predicate: () => T, timeout?: number | AcquireOptions): Promise<T> {
    return rejecting(() => runAsync(this._waitForOp(predicate, deadlineOf(timeout)), signalOf(timeout)));
  }

  waitForSync<T>(predicate: () => T, timeout?: number | AcquireOptions): T {
    return runSync(this._waitForOp(predicate, deadlineOf(timeout)));
  }

  /** Wakes up to `n` waiters (the caller holds the lock). */
  notify(n = 1): void {
    this.#checkOwned('notify');
    if (typeof n !== 'number' || Number.isNaN(n)) throw new TypeError('notify(n): n must be a number');
    const i32 = this.#i32;
    for (;;) {
      const v = Atomics.load(i32, WORD);
      const k = Math.min(n, waitersOf(v) - signalsOf(v));
      if (k <= 0) return;
      if (Atomics.compareExchange(i32, WORD, v, v + k * SIGNAL) === v) return wake(i32, WORD, k);
    }
  }

  notifyAll(): void {
    this.notify(Infinity);
  }

  [shareable](): HandleData {
    return { type: 'multiproc.Condition', data: { words: this.#words.toHandle('a Condition'), lock: this.#lock } };
  }
}

registerHandleType('multiproc.Condition', (d: { words: BlockHandle; lock: Lock }) => new Condition(d.lock, SharedWords.attach(d.words) as never));
