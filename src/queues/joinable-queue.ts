// JoinableQueue: a Queue that counts unfinished tasks (the ring's word B):
// put() adds one, taskDone() removes one, join() waits until none is left.
import { waitAsync, waitSync, wake } from '../shm/wait.js';
import { Queue, queueKinds, type QueueOptions } from './queue.js';
import { WORD_B, type Ring } from './ring.js';

export class JoinableQueue<T = unknown> extends Queue<T> {
  constructor(maxsize = 0, options: QueueOptions = {}) {
    super(maxsize, options);
  }

  protected override get kind(): 'JoinableQueue' {
    return 'JoinableQueue';
  }

  protected override accepted(): void {
    Atomics.add(this.ring.header, WORD_B, 1);
  }

  /** An item will never be got: nobody will process it. */
  protected override lostItem(): void {
    const h = this.ring.header;
    for (let n = Atomics.load(h, WORD_B); n > 0; n = Atomics.load(h, WORD_B)) {
      if (Atomics.compareExchange(h, WORD_B, n, n - 1) !== n) continue;
      if (n === 1) wake(h, WORD_B);
      return;
    }
  }

  /** Marks one item as processed; RangeError when called more times than items were put. */
  taskDone(): void {
    const h = this.ring.header;
    for (;;) {
      const n = Atomics.load(h, WORD_B);
      if (n <= 0) throw new RangeError('taskDone() called too many times');
      if (Atomics.compareExchange(h, WORD_B, n, n - 1) === n) {
        if (n === 1) wake(h, WORD_B);
        return;
      }
    }
  }

  /**
   * Resolves when every item put has been marked done. Items that died with
   * their producer (in its buffer or half-written) or inside a consumer's
   * get() never come, and stop counting (checked every 100 ms).
   */
  async join(): Promise<void> {
    const h = this.ring.header;
    for (let n = Atomics.load(h, WORD_B); n > 0; n = Atomics.load(h, WORD_B)) {
      if (!(await waitAsync(h, WORD_B, n, 100)) || Atomics.load(h, WORD_B) === n) this.reapDead();
    }
  }

  joinSync(): void {
    const h = this.ring.header;
    for (let n = Atomics.load(h, WORD_B); n > 0; n = Atomics.load(h, WORD_B)) {
      if (!waitSync(h, WORD_B, n, 100) || Atomics.load(h, WORD_B) === n) this.reapDead();
    }
  }
}

queueKinds.set('JoinableQueue', (maxsize: number, ring: Ring) => new JoinableQueue(maxsize, { ring } as QueueOptions));
