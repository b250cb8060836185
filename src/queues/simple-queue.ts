// SimpleQueue: Python's unbounded, minimal queue (put, get, empty, close).
import { Queue, queueKinds, type QueueOptions } from './queue.js';
import type { Ring } from '../channel/ring.js';

export class SimpleQueue<T = unknown> extends Queue<T> {
  constructor(options: QueueOptions = {}) {
    super(0, options);
  }

  protected override get kind(): 'SimpleQueue' {
    return 'SimpleQueue';
  }
}

queueKinds.set('SimpleQueue', (_maxsize: number, ring: Ring) => new SimpleQueue({ ring } as QueueOptions));
