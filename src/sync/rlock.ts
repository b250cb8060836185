// RLock: Python's multiprocessing.RLock — recursive, owned by the thread that
// acquired it (a thread of any process). Only the owner may release it; the
// lock is free once it has released as many times as it acquired. Recovered
// from a dead owner as Lock is (the taker starts at depth 1).
//
// Words: [0] owner token (shm/mutex.ts), [1] sleepers, [2] depth (written only by the owner).
import { registerHandleType, shareable, type HandleData } from '../codec/handles.js';
import { ProcessError } from '../errors.js';
import { deadlineOf, type AcquireOptions } from '../shm/drive.js';
import { isHeldByMe, unlock, type LockOutcome } from '../shm/mutex.js';
import type { BlockHandle } from '../shm/arena.js';
import { Lock } from './lock.js';
import { SharedWords } from './shared-words.js';

const DEPTH = 2;

export class RLock extends Lock {
  override acquire(options?: AcquireOptions | number): Promise<boolean> {
    if (isHeldByMe(this.i32, 0)) {
      deadlineOf(options); // still validates the options
      Atomics.add(this.i32, DEPTH, 1);
      return Promise.resolve(true);
    }
    return super.acquire(options);
  }

  override acquireSync(options?: AcquireOptions | number): boolean {
    if (isHeldByMe(this.i32, 0)) {
      deadlineOf(options);
      Atomics.add(this.i32, DEPTH, 1);
      return true;
    }
    return super.acquireSync(options);
  }

  protected override took(outcome: LockOutcome): boolean {
    if (outcome !== 'timeout') Atomics.store(this.i32, DEPTH, 1);
    return super.took(outcome);
  }

  /** Releases one level; ProcessError when this thread does not own the lock. */
  override release(): void {
    if (!isHeldByMe(this.i32, 0)) throw new ProcessError('cannot release un-acquired lock: this thread does not own the RLock');
    const depth = Atomics.sub(this.i32, DEPTH, 1) - 1;
    if (depth <= 0) {
      Atomics.store(this.i32, DEPTH, 0);
      unlock(this.i32, 0);
    }
  }

  /** Releases every level this thread holds and returns how many (for Condition.wait). */
  override _releaseAll(): number {
    const depth = Atomics.load(this.i32, DEPTH);
    Atomics.store(this.i32, DEPTH, 0);
    unlock(this.i32, 0);
    return depth;
  }

  /** Restores `depth` levels after a _releaseAll() and a re-acquire. */
  override _restore(depth: number): void {
    Atomics.store(this.i32, DEPTH, depth);
  }
}

registerHandleType('multiproc.RLock', (handle: BlockHandle) => new RLock(SharedWords.attach(handle) as never));
