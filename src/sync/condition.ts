// Condition: Python's multiprocessing.Condition over a Lock or (the default)
// an RLock. Waiters count themselves, release the lock, and sleep until they
// take a "signal": notify(n) adds min(n, waiters not yet signalled) signals
// and wakes that many sleepers, each waiter consumes one with
// compareExchange, so exactly n wake up. A waiter that times out after a
// signal was issued for it leaves that signal to the next waiter, which then
// wakes spuriously — allowed, as for any condition variable (waitFor loops).
//
// Words: [0] signals, [1] sleepers, [2] waiters.
import { registerHandleType, shareable, type HandleData } from '../codec/handles.js';
import { ProcessError } from '../errors.js';
import { deadlineOf, runAsync, runSync, signalOf, sliceUntil, type AcquireOptions, type Operation } from '../shm/drive.js';
import { wake } from '../shm/wait.js';
import type { BlockHandle } from '../shm/arena.js';
import { Lock } from './lock.js';
import { RLock } from './rlock.js';
import { SharedWords } from './shared-words.js';

const SIGNALS = 0;
const WAITERS = 2;

function* takeSignal(i32: Int32Array, deadline: number): Operation<boolean> {
  for (;;) {
    const s = Atomics.load(i32, SIGNALS);
    if (s > 0) {
      if (Atomics.compareExchange(i32, SIGNALS, s, s - 1) === s) return true;
      continue;
    }
    if (Date.now() >= deadline) return false;
    yield { i32, index: SIGNALS, expected: 0, ms: sliceUntil(deadline) };
  }
}

export class Condition {
  readonly #words: SharedWords;
  readonly #i32: Int32Array;
  readonly #lock: Lock;

  constructor(lock?: Lock, attach?: never) {
    if (lock !== undefined && !(lock instanceof Lock)) throw new TypeError('Condition(lock): lock must be a Lock or an RLock');
    this.#lock = lock ?? new RLock();
    this.#words = attach ?? SharedWords.allocate(4, this);
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
  lockSync(options?: AcquireOptions | number): Disposable {
    return this.#lock.lockSync(options);
  }
  get lock(): Lock {
    return this.#lock;
  }

  #checkOwned(what: string): void {
    if (!this.#lock.isMine()) throw new ProcessError(`must acquire() the condition before using ${what}()`);
  }

  /** wait() as an operation: release the lock, take a signal or time out, re-acquire. */
  *_waitOp(deadline: number): Operation<boolean> {
    this.#checkOwned('wait');
    Atomics.add(this.#i32, WAITERS, 1);
    const depth = this.#lock._releaseAll();
    try {
      return yield* takeSignal(this.#i32, deadline);
    } finally {
      Atomics.sub(this.#i32, WAITERS, 1);
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
    return runAsync(this._waitOp(deadlineOf(timeout)), signalOf(timeout));
  }

  waitSync(timeout?: number | AcquireOptions): boolean {
    return runSync(this._waitOp(deadlineOf(timeout)));
  }

  /** Waits until `predicate()` is truthy (checked under the lock); returns its last value. */
  waitFor<T>(predicate: () => T, timeout?: number | AcquireOptions): Promise<T> {
    return runAsync(this._waitForOp(predicate, deadlineOf(timeout)), signalOf(timeout));
  }

  waitForSync<T>(predicate: () => T, timeout?: number | AcquireOptions): T {
    return runSync(this._waitForOp(predicate, deadlineOf(timeout)));
  }

  /** Wakes up to `n` waiters (the caller holds the lock). */
  notify(n = 1): void {
    this.#checkOwned('notify');
    const unsignalled = Atomics.load(this.#i32, WAITERS) - Atomics.load(this.#i32, SIGNALS);
    const k = Math.min(n, unsignalled);
    if (k > 0) {
      Atomics.add(this.#i32, SIGNALS, k);
      wake(this.#i32, SIGNALS, k);
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
