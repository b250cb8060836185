// JoinableQueue: a Queue that counts unfinished tasks: put() adds one,
// taskDone() removes one, join() waits until none is left. The counts live
// in the ring's header and survive dead producers and consumers
// (queues/accounting.ts).
import { waitAsync, waitSync } from '../shm/wait.js';
import { Queue, queueKinds, type QueueOptions } from './queue.js';
import { TASKS_DONE } from './accounting.js';
import type { Ring } from './ring.js';

/** How often join() settles what dead producers and consumers left (a dead party wakes nobody). */
const REAP_EVERY_MS = 100;

export class JoinableQueue<T = unknown> extends Queue<T> {
  constructor(maxsize = 0, options: QueueOptions = {}) {
    super(maxsize, options);
  }

  protected override get kind(): 'JoinableQueue' {
    return 'JoinableQueue';
  }

  /** Marks one item as processed; RangeError when called more times than items were put. */
  taskDone(): void {
    if (!this.counts.taskDone()) throw new RangeError('taskDone() called too many times');
  }

  /**
   * Resolves when every item put has been marked done. Items that died with
   * their producer (in its buffer or half-written) or inside a consumer's
   * get() never come, and stop counting (checked every 100 ms).
   */
  async join(): Promise<void> {
    while (this.counts.unfinished > 0) {
      const done = this.counts.tasksDone;
      if (this.counts.unfinished <= 0) return;
      if (!(await waitAsync(this.ring.header, TASKS_DONE, done, REAP_EVERY_MS)) || this.counts.tasksDone === done) this.reapDead();
    }
  }

  joinSync(): void {
    while (this.counts.unfinished > 0) {
      const done = this.counts.tasksDone;
      if (this.counts.unfinished <= 0) return;
      if (!waitSync(this.ring.header, TASKS_DONE, done, REAP_EVERY_MS) || this.counts.tasksDone === done) this.reapDead();
    }
  }
}

queueKinds.set('JoinableQueue', (maxsize: number, ring: Ring) => new JoinableQueue(maxsize, { ring } as QueueOptions));
