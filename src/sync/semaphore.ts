// Semaphore and BoundedSemaphore: Python's multiprocessing semaphores, a
// counter in shared memory. acquire() takes one unit with compareExchange
// (value → value - 1, only while value > 0) and otherwise sleeps on the
// counter; release() adds and wakes one sleeper per unit. Semaphores have no
// owner, so units held by a thread that died are not given back (as Python).
//
// Invariant: 0 <= value, and for a BoundedSemaphore value <= bound. Every
// change is one Atomics read-modify-write (a compareExchange loop where the
// check and the change must be one step), so no unit is lost or duplicated.
// Ordering: release() adds before it reads the sleepers count, and a sleeper
// counts itself before the kernel re-checks the value (shm/wait.ts); both
// sides are sequentially consistent, so a release never misses a sleeper.
// Sleepers wake at least every SLICE_MS anyway.
//
// Words: [0] value, [1] sleepers, [2] bound (BoundedSemaphore: the initial value).
import { registerHandleType, shareable, type HandleData } from '../codec/handles.js';
import { runAsync, runSync, type Operation } from '../shm/drive.js';
import { deadlineOf, signalOf, sliceUntil, type AcquireOptions } from '../options.js';
import { wake } from '../shm/wait.js';
import type { BlockHandle } from '../shm/arena.js';
import { acquiredGuard, acquiredGuardAsync, SharedWords, withAcquired, type Guard } from './shared-words.js';

const VALUE = 0;
const BOUND = 2;

function tryTake(i32: Int32Array): boolean {
  for (let v = Atomics.load(i32, VALUE); v > 0; v = Atomics.load(i32, VALUE)) {
    if (Atomics.compareExchange(i32, VALUE, v, v - 1) === v) return true;
  }
  return false;
}

function* take(i32: Int32Array, deadline: number): Operation<boolean> {
  for (;;) {
    if (tryTake(i32)) return true;
    if (Date.now() >= deadline) return false;
    yield { i32, index: VALUE, expected: 0, ms: sliceUntil(deadline) };
  }
}

export class Semaphore {
  protected readonly words: SharedWords;
  protected readonly i32: Int32Array;

  constructor(value = 1, attach?: never) {
    if (attach) {
      this.words = attach;
    } else {
      if (!Number.isInteger(value) || value < 0) throw new RangeError('semaphore initial value must be >= 0');
      this.words = SharedWords.allocate(4, this);
      Atomics.store(this.words.i32, VALUE, value);
      Atomics.store(this.words.i32, BOUND, value);
    }
    this.i32 = this.words.i32;
  }

  acquire(options?: AcquireOptions | number): Promise<boolean> {
    let deadline: number;
    try {
      deadline = deadlineOf(options); // a bad timeout rejects (TypeError)
    } catch (err) {
      return Promise.reject(err);
    }
    const signal = signalOf(options);
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (tryTake(this.i32)) return Promise.resolve(true);
    if (deadline === -Infinity) return Promise.resolve(false);
    return runAsync(take(this.i32, deadline), signal);
  }

  acquireSync(options?: AcquireOptions | number): boolean {
    const deadline = deadlineOf(options);
    return tryTake(this.i32) || (deadline !== -Infinity && runSync(take(this.i32, deadline)));
  }

  /** Gives back `n` units (default 1). */
  release(n = 1): void {
    if (!Number.isInteger(n) || n < 1) throw new RangeError('n must be a positive integer');
    Atomics.add(this.i32, VALUE, n);
    wake(this.i32, VALUE, n);
  }

  getValue(): number {
    return Atomics.load(this.i32, VALUE);
  }

  withLock<T>(fn: () => T | Promise<T>): Promise<T> {
    return withAcquired(this, fn);
  }

  /** `using _ = sem.lockSync()`: holds one unit until the end of the block. */
  lockSync(options?: AcquireOptions | number): Guard {
    return acquiredGuard(this, options, 'semaphore');
  }

  /** `await using _ = await sem.lock()`. */
  lock(options?: AcquireOptions | number): Promise<Guard> {
    return acquiredGuardAsync(this, options, 'semaphore');
  }

  [shareable](): HandleData {
    return { type: `multiproc.${this.constructor.name}`, data: this.words.toHandle(`a ${this.constructor.name}`) };
  }
}

export class BoundedSemaphore extends Semaphore {
  /** RangeError when releasing would raise the value above its initial value. */
  override release(n = 1): void {
    if (!Number.isInteger(n) || n < 1) throw new RangeError('n must be a positive integer');
    const bound = Atomics.load(this.i32, BOUND);
    for (;;) {
      const v = Atomics.load(this.i32, VALUE);
      if (v + n > bound) throw new RangeError('semaphore or lock released too many times');
      if (Atomics.compareExchange(this.i32, VALUE, v, v + n) === v) break;
    }
    wake(this.i32, VALUE, n);
  }
}

registerHandleType('multiproc.Semaphore', (h: BlockHandle) => new Semaphore(0, SharedWords.attach(h) as never));
registerHandleType('multiproc.BoundedSemaphore', (h: BlockHandle) => new BoundedSemaphore(0, SharedWords.attach(h) as never));
