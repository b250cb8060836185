// JoinableQueue: a Queue that counts unfinished tasks: put() adds one,
// taskDone() removes one, join() waits until none is left. The counts live
// in the ring's header and survive dead producers and consumers
// (queues/accounting.ts).
import { waitAsync, waitSync } from '../shm/wait.js';
import { SLICE_MS } from '../shm/wait-policy.js';
import { ProcessError } from '../errors.js';
import { Queue, queueKinds, type QueueOptions } from './queue.js';
import { TASKS_DONE } from './accounting.js';
import type { Ring } from '../channel/ring.js';


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
   * get() never come, and stop counting (checked every slice, as a dead
   * party wakes nobody).
   */
  async join(): Promise<void> {
    while (this.counts.unfinished > 0) {
      const done = this.counts.tasksDone;
      if (this.counts.unfinished <= 0) return;
      if (!(await waitAsync(this.ring.header, TASKS_DONE, done, SLICE_MS)) || this.counts.tasksDone === done) this.reapDead();
    }
  }

  /**
   * join() blocking this thread. Items this thread's put() buffered are
   * written first (its feeder cannot run meanwhile); while the feeder is
   * writing a large item in chunks it cannot be, and joinSync() refuses with
   * a ProcessError instead of waiting for ever.
   */
  joinSync(): void {
    if (!this.flushBuffered(true)) throw new ProcessError('joinSync() cannot run while this thread is still writing a large item it put() on this queue: await join() instead');
    while (this.counts.unfinished > 0) {
      const done = this.counts.tasksDone;
      if (this.counts.unfinished <= 0) return;
      if (!waitSync(this.ring.header, TASKS_DONE, done, SLICE_MS) || this.counts.tasksDone === done) this.reapDead();
    }
  }
}

queueKinds.set('JoinableQueue', (maxsize: number, ring: Ring) => new JoinableQueue(maxsize, { ring } as QueueOptions));
