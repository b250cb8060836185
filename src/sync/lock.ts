// Lock: Python's multiprocessing.Lock — a non-recursive lock that any thread
// or process may release — in one word of shared memory: 0 when free, else
// the holder's liveness token (shm/mutex.ts). A holder that dies holding it
// (SIGKILL, terminate(), or simply ending) is detected by the next acquirer,
// which takes the lock over and sees `recovered === true`.
//
// Invariant: word 0 is 0 exactly when the lock is free; otherwise it holds
// the token of the thread that took it last (by compareExchange 0 → token, or
// deadToken → token when recovering), and only one compareExchange can win
// each transition, so at most one thread holds the lock.
//
// Memory ordering: taking (compareExchange) and releasing (exchange → 0) are
// Atomics, which are sequentially consistent in JS: every write the holder
// made before its release happens-before the next taker's successful
// compareExchange, across threads and processes alike (the same cache-coherent
// memory; the futex is only for sleeping). The sleepers count that lets
// release() skip the wake syscall is ordered the same way (shm/wait.ts).
//
// Words: [0] holder token, [1] sleepers.
import { registerHandleType, shareable, type HandleData } from '../codec/handles.js';
import { runAsync, runSync, type Operation } from '../shm/drive.js';
import { deadlineOf, signalOf, type AcquireOptions } from '../options.js';
import { isHeldByMe, lockOp, tryLock, unlockIfHeld, type LockOutcome } from '../shm/mutex.js';
import type { BlockHandle } from '../shm/arena.js';
import { acquiredGuard, acquiredGuardAsync, SharedWords, withAcquired, type Guard } from './shared-words.js';

export class Lock {
  protected readonly words: SharedWords;
  protected readonly i32: Int32Array;
  /** True right after the acquire that took the lock over from a holder that died; false after any other. */
  recovered = false;

  constructor(attach?: never) {
    this.words = attach ?? SharedWords.allocate(4, this);
    this.i32 = this.words.i32;
  }

  /** Waits for the lock; false if `timeout` (ms) passed or `block` is false and it is held. */
  acquire(options?: AcquireOptions | number): Promise<boolean> {
    let deadline: number;
    try {
      deadline = deadlineOf(options); // a bad timeout rejects (TypeError), as every async call
    } catch (err) {
      return Promise.reject(err);
    }
    const signal = signalOf(options);
    if (signal?.aborted) return Promise.reject(signal.reason);
    const outcome = tryLock(this.i32, 0);
    if (outcome !== 'timeout' || deadline === -Infinity) return Promise.resolve(this.took(outcome));
    return runAsync(lockOp(this.i32, 0, deadline), signal).then((o) => this.took(o));
  }

  /** acquire() that blocks this thread. */
  acquireSync(options?: AcquireOptions | number): boolean {
    const deadline = deadlineOf(options);
    const outcome = tryLock(this.i32, 0);
    if (outcome !== 'timeout' || deadline === -Infinity) return this.took(outcome);
    return this.took(runSync(lockOp(this.i32, 0, deadline)));
  }

  protected took(outcome: LockOutcome): boolean {
    this.recovered = outcome === 'recovered';
    return outcome !== 'timeout';
  }

  /** Releases the lock (from any thread or process); RangeError if it is not held. */
  release(): void {
    if (!unlockIfHeld(this.i32, 0)) throw new RangeError('semaphore or lock released too many times');
  }

  // ---- for Condition and Barrier ----------------------------------------------

  /** Whether this thread holds the lock (Python's _is_mine()). */
  isMine(): boolean {
    return isHeldByMe(this.i32, 0);
  }

  /**
   * The shared word holding the holder's token (shm/mutex.ts), for data this
   * lock guards: a value may use plain accesses while this thread holds it.
   */
  get _holderWord(): Int32Array {
    return this.i32;
  }

  /** acquire() as an operation (shm/drive.ts). */
  *_acquireOp(deadline: number): Operation<boolean> {
    return this.took(yield* lockOp(this.i32, 0, deadline));
  }

  /** Releases the lock entirely; returns what _restore() needs. */
  _releaseAll(): number {
    this.release();
    return 1;
  }

  _restore(_depth: number): void {}

  /** Runs `fn` holding the lock, and releases it even if `fn` throws. */
  withLock<T>(fn: () => T | Promise<T>): Promise<T> {
    return withAcquired(this, fn);
  }

  /** `using _ = lock.lockSync()`: holds the lock until the end of the block (TimeoutError if a timeout passes first). */
  lockSync(options?: AcquireOptions | number): Guard {
    return acquiredGuard(this, options, 'lock');
  }

  /** `await using _ = await lock.lock()`: lockSync() without blocking the thread. */
  lock(options?: AcquireOptions | number): Promise<Guard> {
    return acquiredGuardAsync(this, options, 'lock');
  }

  [shareable](): HandleData {
    return { type: `multiproc.${this.constructor.name}`, data: this.words.toHandle(`a ${this.constructor.name}`) };
  }

  get [Symbol.toStringTag](): string {
    return Atomics.load(this.i32, 0) === 0 ? 'unlocked' : 'locked';
  }
}

registerHandleType('multiproc.Lock', (handle: BlockHandle) => new Lock(SharedWords.attach(handle) as never));
