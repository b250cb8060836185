// RLock: Python's multiprocessing.RLock — recursive, owned by the thread that
// acquired it (a thread of any process). Only the owner may release it; the
// lock is free once it has released as many times as it acquired. Recovered
// from a dead owner as Lock is (the taker starts at depth 1).
//
// Invariant: word 0 is as Lock's; depth >= 1 while owned, 0 while free.
//
// Words: [0] owner token (shm/mutex.ts), [1] sleepers, [2] depth. The depth
// is read and written only by the owner, with plain accesses: the Atomics on
// word 0 that hand the lock over order them (a new owner sees the last depth
// written before the unlock that freed it).
//
// "Does this thread own it?" is a plain read of word 0 (an Atomics call costs
// as much as the rest of an uncontended acquire/release pair): only this
// thread writes its own token there, and only this thread clears it (no
// other thread may release an RLock, and a live owner is never recovered
// from), so by program order the read shows our token exactly while we own
// the lock. Another thread's token or 0 may be stale, which only sends the
// caller to the Atomics of Lock's acquire path.
import { registerHandleType } from '../codec/handles.js';
import { ProcessError } from '../errors.js';
import { deadlineOf, type AcquireOptions } from '../options.js';
import { unlock, type LockOutcome } from '../shm/mutex.js';
import { token } from '../shm/liveness.js';
import type { BlockHandle } from '../shm/arena.js';
import { Lock } from './lock.js';
import { SharedWords } from './shared-words.js';

const DEPTH = 2;

export class RLock extends Lock {
  /** Whether this thread owns the lock (see the top: a plain read). */
  #mine(): boolean {
    return this.i32[0] === token();
  }

  override isMine(): boolean {
    return this.#mine();
  }

  override acquire(options?: AcquireOptions | number): Promise<boolean> {
    if (this.#mine()) {
      try {
        deadlineOf(options); // still validates the options
      } catch (err) {
        return Promise.reject(err);
      }
      this.i32[DEPTH]++;
      return Promise.resolve(true);
    }
    return super.acquire(options);
  }

  override acquireSync(options?: AcquireOptions | number): boolean {
    if (this.#mine()) {
      deadlineOf(options);
      this.i32[DEPTH]++;
      return true;
    }
    return super.acquireSync(options);
  }

  protected override took(outcome: LockOutcome): boolean {
    if (outcome !== 'timeout') this.i32[DEPTH] = 1;
    return super.took(outcome);
  }

  /** Releases one level; ProcessError when this thread does not own the lock. */
  override release(): void {
    if (!this.#mine()) throw new ProcessError('cannot release un-acquired lock: this thread does not own the RLock');
    const depth = --this.i32[DEPTH];
    if (depth <= 0) {
      this.i32[DEPTH] = 0;
      unlock(this.i32, 0);
    }
  }

  /** Releases every level this thread holds and returns how many (for Condition.wait). */
  override _releaseAll(): number {
    const depth = this.i32[DEPTH];
    this.i32[DEPTH] = 0;
    unlock(this.i32, 0);
    return depth;
  }

  /** Restores `depth` levels after a _releaseAll() and a re-acquire. */
  override _restore(depth: number): void {
    this.i32[DEPTH] = depth;
  }
}

registerHandleType('multiproc.RLock', (handle: BlockHandle) => new RLock(SharedWords.attach(handle) as never));
