// Queue, SimpleQueue and JoinableQueue across machines: a Redis list per
// queue, shared by every host that opens the same name in the same
// namespace. Items are the codec's bytes (the same encoding as the local
// queues); shareable objects, which live in one machine's memory, are
// refused. FIFO per producer (RPUSH / LPOP); an item is in the list or in
// exactly one consumer's hands, so the queue itself loses or duplicates
// nothing; an item a consumer took and then died with is gone, as in Python.
//
// Waiting: get() blocks on a connection of its own (BLPOP) in slices of at
// most BLOCK_SLICE_MS, so an AbortSignal or a deadline is seen within one
// slice; an item that arrives after the caller gave up goes back to the head
// of the list. A bounded put() that finds the queue full re-checks with
// backoff. The Promise API only: a call crosses the network.
import { decodePortable, encodePortable } from '../codec/codec.js';
import { Empty, Full } from '../errors.js';
import { deadlineOf, msLeft, signalOf, type BlockingOptions } from '../options.js';
import type { RedisLink } from './client.js';
import { until } from './poll.js';

const BLOCK_SLICE_MS = 1000;

/** RPUSH if the list has room (maxsize 0: always); a JoinableQueue also counts the task. Returns 1, or 0 when full. */
const PUT = `
local n = tonumber(ARGV[2])
if n > 0 and redis.call('LLEN', KEYS[1]) >= n then return 0 end
redis.call('RPUSH', KEYS[1], ARGV[1])
if KEYS[2] then redis.call('INCR', KEYS[2]) end
return 1`;

/** One task done: the count left, or -1 when none was unfinished. */
const TASK_DONE = `
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n <= 0 then return -1 end
if n == 1 then redis.call('DEL', KEYS[1]) return 0 end
return redis.call('DECR', KEYS[1])`;


export interface RedisQueueOptions {
  /** Items the queue holds at most; 0 (the default) = unbounded. */
  maxsize?: number;
}

export class RedisQueue<T = unknown> {
  readonly name: string;
  readonly maxsize: number;
  protected readonly link: RedisLink;
  protected readonly key: string;
  #closed = false;

  /** @internal Use cluster.Queue(name). */
  constructor(link: RedisLink, namespace: string, name: string, options: RedisQueueOptions = {}) {
    if (typeof name !== 'string' || name === '') throw new TypeError('a cluster queue needs a name (a non-empty string)');
    const maxsize = options.maxsize ?? 0;
    if (typeof maxsize !== 'number' || Number.isNaN(maxsize)) throw new TypeError('maxsize must be a number');
    this.link = link;
    this.name = name;
    this.maxsize = maxsize > 0 ? Math.floor(maxsize) : 0;
    this.key = `${namespace}:queue:${name}`;
  }

  /** The key that counts unfinished tasks (JoinableQueue), or null. */
  protected get tasksKey(): string | null {
    return null;
  }

  async put(item: T, options?: BlockingOptions): Promise<void> {
    this.#checkOpen();
    const bytes = Buffer.from(encodePortable(item, 'item'));
    const keys = this.tasksKey ? [this.key, this.tasksKey] : [this.key];
    const put = async () => (await this.link.send<number>(['EVAL', PUT, String(keys.length), ...keys, bytes, String(this.maxsize)])) === 1;
    if (!(await until(put, options))) throw new Full();
  }

  putNowait(item: T): Promise<void> {
    return this.put(item, { block: false });
  }

  async get(options?: BlockingOptions): Promise<T> {
    this.#checkOpen();
    const deadline = deadlineOf(options);
    const signal = signalOf(options);
    signal?.throwIfAborted();
    const now = await this.link.send<Buffer | null>(['LPOP', this.key]);
    if (now) return decodePortable<T>(now);
    if (deadline === -Infinity || Date.now() >= deadline) throw new Empty();
    const bytes = await this.link.blocking(async (send) => {
      for (;;) {
        const slice = Math.max(10, Math.min(BLOCK_SLICE_MS, msLeft(deadline)));
        const got = (await send(['BLPOP', this.key, (slice / 1000).toFixed(3)])) as [Buffer, Buffer] | null;
        if (got && signal?.aborted) {
          await send(['LPUSH', this.key, got[1]]); // (the caller gave up: the item goes back first in line)
          throw signal.reason;
        }
        if (got) return got[1];
        signal?.throwIfAborted();
        if (Date.now() >= deadline) return null;
      }
    });
    if (!bytes) throw new Empty();
    return decodePortable<T>(bytes);
  }

  getNowait(): Promise<T> {
    return this.get({ block: false });
  }

  /** Items in the queue now. */
  async qsize(): Promise<number> {
    return this.link.send<number>(['LLEN', this.key]);
  }

  async empty(): Promise<boolean> {
    return (await this.qsize()) === 0;
  }

  async full(): Promise<boolean> {
    return this.maxsize > 0 && (await this.qsize()) >= this.maxsize;
  }

  /** No more puts or gets through this object (the queue itself lives on for the other hosts). */
  close(): void {
    this.#closed = true;
  }

  get closed(): boolean {
    return this.#closed;
  }

  #checkOpen(): void {
    if (this.#closed) throw new RangeError(`cluster queue '${this.name}' is closed`);
  }
}

/** A queue without maxsize (Python's SimpleQueue). */
export class RedisSimpleQueue<T = unknown> extends RedisQueue<T> {
  constructor(link: RedisLink, namespace: string, name: string) {
    super(link, namespace, name);
  }
}

export class RedisJoinableQueue<T = unknown> extends RedisQueue<T> {
  protected override get tasksKey(): string {
    return `${this.key}:unfinished`;
  }

  /** Marks one item as processed; RangeError when called more times than items were put. */
  async taskDone(): Promise<void> {
    const left = await this.link.send<number>(['EVAL', TASK_DONE, '1', this.tasksKey]);
    if (left < 0) throw new RangeError('taskDone() called too many times');
  }

  /** Tasks put on any host and not yet marked done. */
  async unfinished(): Promise<number> {
    const n = await this.link.send<Buffer | null>(['GET', this.tasksKey]);
    return n ? Number(n.toString()) : 0;
  }

  /** Resolves when every item put (by any host) has been marked done. */
  async join(options?: { signal?: AbortSignal }): Promise<void> {
    await until(async () => (await this.unfinished()) <= 0, options);
  }
}
