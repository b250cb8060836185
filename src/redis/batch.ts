// Commands issued in one turn of the event loop go to Redis as one script
// call: a Pool submitting 10,000 tasks in a loop sends a few large XADD
// batches instead of 10,000 commands (node-redis costs tens of µs of
// JavaScript per command; the network round trip is shared either way).
const MAX_ITEMS = 500;
const MAX_BYTES = 1 << 20;

interface Batch<T> {
  items: T[];
  bytes: number;
  done: Promise<void>;
  resolve: () => void;
  reject: (err: unknown) => void;
}

export class Batcher<T> {
  readonly #send: (items: T[]) => Promise<void>;
  readonly #bytes: (item: T) => number;
  #batch: Batch<T> | null = null;

  /** `send` runs one batch (it may retry); `bytes` sizes an item, so a batch stays around a MiB. */
  constructor(send: (items: T[]) => Promise<void>, bytes: (item: T) => number) {
    this.#send = send;
    this.#bytes = bytes;
  }

  /** Queues `item`; settles with the batch it goes out in. */
  add(item: T): Promise<void> {
    let batch = this.#batch;
    if (!batch) {
      let resolve!: () => void;
      let reject!: (err: unknown) => void;
      const done = new Promise<void>((res, rej) => {
        resolve = res;
        reject = rej;
      });
      batch = this.#batch = { items: [], bytes: 0, done, resolve, reject };
      queueMicrotask(() => this.#flush(batch!));
    }
    batch.items.push(item);
    batch.bytes += this.#bytes(item);
    const { done } = batch;
    if (batch.items.length >= MAX_ITEMS || batch.bytes >= MAX_BYTES) this.#flush(batch);
    return done;
  }

  #flush(batch: Batch<T>): void {
    if (this.#batch !== batch) return; // (sent already, full)
    this.#batch = null;
    this.#send(batch.items).then(batch.resolve, batch.reject);
  }
}
