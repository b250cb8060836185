// Event: Python's multiprocessing.Event — a flag in shared memory. set()
// stores 1 and wakes every sleeper; wait() sleeps while the flag is 0.
//
// Invariant: word 0 is 1 while set, 0 while clear. Ordering: set() stores
// the flag before it reads the sleepers count, a waiter counts itself before
// the kernel re-checks the flag (shm/wait.ts); both sequentially consistent,
// so a waiter either sees the flag or is woken. Writes made before set() are
// visible to a waiter that saw the flag (seq_cst store/load pair).
//
// Words: [0] flag, [1] sleepers.
import { registerHandleType, shareable, type HandleData } from '../codec/handles.js';
import { rejecting, runAsync, runSync, type Operation } from '../shm/drive.js';
import { deadlineOf, signalOf, sliceUntil, type AcquireOptions } from '../options.js';
import { wake } from '../shm/wait.js';
import type { BlockHandle } from '../shm/arena.js';
import { SharedWords } from './shared-words.js';

function* waitForSet(i32: Int32Array, deadline: number): Operation<boolean> {
  for (;;) {
    if (Atomics.load(i32, 0) === 1) return true;
    if (Date.now() >= deadline) return false;
    yield { i32, index: 0, expected: 0, ms: sliceUntil(deadline) };
  }
}

export class Event {
  readonly #words: SharedWords;
  readonly #i32: Int32Array;

  constructor(attach?: never) {
    this.#words = attach ?? SharedWords.allocate(2, this);
    this.#i32 = this.#words.i32;
  }

  isSet(): boolean {
    return Atomics.load(this.#i32, 0) === 1;
  }

  set(): void {
    Atomics.store(this.#i32, 0, 1);
    wake(this.#i32, 0);
  }

  clear(): void {
    Atomics.store(this.#i32, 0, 0);
  }

  /** Resolves true once the flag is set, false if `timeout` (ms) passes first. */
  wait(timeout?: number | AcquireOptions): Promise<boolean> {
    return rejecting(() => {
      const deadline = deadlineOf(timeout);
      const signal = signalOf(timeout);
      if (signal?.aborted) return Promise.reject(signal.reason);
      if (this.isSet()) return Promise.resolve(true);
      return runAsync(waitForSet(this.#i32, deadline), signal);
    });
  }

  waitSync(timeout?: number | AcquireOptions): boolean {
    const deadline = deadlineOf(timeout);
    return this.isSet() || runSync(waitForSet(this.#i32, deadline));
  }

  [shareable](): HandleData {
    return { type: 'multiproc.Event', data: this.#words.toHandle('an Event') };
  }
}

registerHandleType('multiproc.Event', (h: BlockHandle) => new Event(SharedWords.attach(h) as never));
