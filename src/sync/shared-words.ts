// Where a synchronization object keeps its state: a few int32 words of the
// shared arena (shm/arena.ts), attached again on the receiving side.
import { TimeoutError } from '../errors.js';
import { allocate, Block, type BlockHandle } from '../shm/arena.js';

export class SharedWords {
  readonly i32: Int32Array;
  private constructor(readonly block: Block, count: number) {
    this.i32 = new Int32Array(block.sab, block.offset, count);
  }

  /** `count` zeroed words, recycled when `owner` is collected unless they were shared. */
  static allocate(count: number, owner: object): SharedWords {
    return new SharedWords(allocate(count * 4, owner), count);
  }

  static attach(handle: BlockHandle): SharedWords {
    return new SharedWords(Block.attach(handle), handle.size / 4);
  }

  toHandle(what: string): BlockHandle {
    return this.block.toHandle(what);
  }
}

interface Acquirable {
  acquire(options?: unknown): Promise<boolean>;
  acquireSync(options?: unknown): boolean;
  release(): void;
}

/** withLock(fn) of every lock-like object: runs `fn` holding it, releasing it even if `fn` throws. */
export async function withAcquired<T>(lock: Acquirable, fn: () => T | Promise<T>): Promise<T> {
  await lock.acquire();
  try {
    return await fn();
  } finally {
    lock.release();
  }
}

/** A held lock: released once by `using` (Symbol.dispose) or `await using` (Symbol.asyncDispose). */
export type Guard = Disposable & AsyncDisposable;

/** lockSync() of every lock-like object: acquires now and returns the scoped guard. */
export function acquiredGuard(lock: Acquirable, options: unknown, what: string): Guard {
  if (!lock.acquireSync(options)) throw new TimeoutError(`lockSync(): the ${what} could not be acquired in time`);
  return guard(() => lock.release());
}

/** lock() of every lock-like object: lockSync() without blocking the thread. */
export async function acquiredGuardAsync(lock: Acquirable, options: unknown, what: string): Promise<Guard> {
  if (!(await lock.acquire(options))) throw new TimeoutError(`lock(): the ${what} could not be acquired in time`);
  return guard(() => lock.release());
}

/** A guard that runs `release` once, whichever way it is disposed. */
export function guard(release: () => void): Guard {
  let done = false;
  const dispose = () => {
    if (!done) {
      done = true;
      release();
    }
  };
  return {
    [Symbol.dispose]: dispose,
    [Symbol.asyncDispose]: async () => dispose(),
  };
}
