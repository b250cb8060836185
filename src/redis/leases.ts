// Lock and Semaphore across machines, as leases. A Lock is SET NX PX with a
// random token, renewed every third of the lease while held (by a timer: a
// task that blocks the event loop for a whole lease loses it), released only
// by its holder's token (a Lua compare-and-delete), so a holder that dies
// frees it after leaseMs. Each acquisition takes the next fencing number
// (lock.fence), which a protected resource can use to refuse a holder whose
// lease ran out. A Semaphore keeps one lease per acquisition in a sorted set.
import { randomUUID } from 'node:crypto';
import { TimeoutError } from '../errors.js';
import type { BlockingOptions } from '../options.js';
import type { RedisLink } from './client.js';
import { RedisObject } from './object.js';
import { until } from './poll.js';

interface Lease {
  acquire(options?: BlockingOptions | number): Promise<boolean>;
  release(): Promise<void>;
}

async function holding<R>(lease: Lease, what: string, fn: () => R | Promise<R>, options: BlockingOptions | number | undefined): Promise<R> {
  if (!(await lease.acquire(options))) throw new TimeoutError(`the ${what} was not acquired in time`);
  try {
    return await fn();
  } finally {
    await lease.release();
  }
}

const RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";
const RENEW = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";

export class RedisLock extends RedisObject {
  readonly #leaseMs: number;
  #token: string | null = null;
  #renewer: NodeJS.Timeout | null = null;
  #fence = 0;

  constructor(link: RedisLink, key: string, leaseMs: number) {
    super(link, key);
    this.#leaseMs = leaseMs;
  }

  /** The fencing number of the current (or last) acquisition by this object: larger than every earlier holder's. */
  get fence(): number {
    return this.#fence;
  }

  async acquire(options?: BlockingOptions | number): Promise<boolean> {
    if (this.#token) throw new RangeError('this Lock object already holds the lock (a cluster Lock is not re-entrant)');
    const token = randomUUID();
    const got = await until(async () => (await this.link.send(['SET', this.key, token, 'NX', 'PX', String(this.#leaseMs)])) !== null, options);
    if (!got) return false;
    this.#token = token;
    this.#fence = await this.link.send<number>(['INCR', `${this.key}:fence`]);
    // Renewed from a timer, which runs while the event loop turns (a task that blocks it for a whole lease loses the lock).
    this.#renewer = setInterval(() => void this.link.send(['EVAL', RENEW, '1', this.key, token, String(this.#leaseMs)]).catch(() => {}), Math.max(10, this.#leaseMs / 3));
    this.#renewer.unref();
    return true;
  }

  async release(): Promise<void> {
    const token = this.#token;
    if (!token) throw new RangeError('release unlocked lock');
    this.#stopRenewing();
    this.#token = null;
    if ((await this.link.send<number>(['EVAL', RELEASE, '1', this.key, token])) === 0) {
      throw new RangeError('the lock was no longer held: its lease ran out before release()');
    }
  }

  /** Runs `fn` holding the lock (TimeoutError if not acquired in time), releasing it after. */
  withLock<R>(fn: () => R | Promise<R>, options?: BlockingOptions | number): Promise<R> {
    return holding(this, 'lock', fn, options);
  }

  #stopRenewing(): void {
    if (this.#renewer) clearInterval(this.#renewer);
    this.#renewer = null;
  }

  /** @internal The manager closes: a held lock is released. */
  async _abandon(): Promise<void> {
    if (this.#token) await this.release().catch(() => {});
  }
}

/** Prunes expired holders, then adds ARGV[2] if fewer than the limit hold it: 1, or 0. Times are Redis's own clock. */
const SEM_ACQUIRE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local limit = tonumber(redis.call('GET', KEYS[2]))
if redis.call('ZCARD', KEYS[1]) >= limit then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[2])
return 1`;
const SEM_RENEW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZADD', KEYS[1], 'XX', 'CH', now + tonumber(ARGV[1]), ARGV[2])`;
const SEM_VALUE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
return tonumber(redis.call('GET', KEYS[2])) - redis.call('ZCARD', KEYS[1])`;

/**
 * A counting semaphore of leases: each acquire() adds a holder with its own
 * token and expiry (a sorted set), renewed while held; holders whose lease
 * ran out (they died) stop counting. The limit is the one the first opener
 * of the name gave.
 */
export class RedisSemaphore extends RedisObject {
  readonly #leaseMs: number;
  readonly #held: string[] = [];
  #renewer: NodeJS.Timeout | null = null;

  constructor(link: RedisLink, key: string, leaseMs: number) {
    super(link, key);
    this.#leaseMs = leaseMs;
  }

  get #limitKey(): string {
    return `${this.key}:limit`;
  }

  async acquire(options?: BlockingOptions | number): Promise<boolean> {
    const token = randomUUID();
    const got = await until(async () => (await this.link.send<number>(['EVAL', SEM_ACQUIRE, '2', this.key, this.#limitKey, String(this.#leaseMs), token])) === 1, options);
    if (!got) return false;
    this.#held.push(token);
    this.#renewer ??= setInterval(() => {
      for (const t of this.#held) void this.link.send(['EVAL', SEM_RENEW, '1', this.key, String(this.#leaseMs), t]).catch(() => {});
    }, Math.max(10, this.#leaseMs / 3));
    this.#renewer.unref();
    return true;
  }

  /** Gives back one acquisition of this object; RangeError if it holds none. */
  async release(): Promise<void> {
    const token = this.#held.pop();
    if (!token) throw new RangeError('release() of a semaphore this object does not hold');
    if (this.#held.length === 0 && this.#renewer) {
      clearInterval(this.#renewer);
      this.#renewer = null;
    }
    if ((await this.link.send<number>(['ZREM', this.key, token])) === 0) throw new RangeError('the semaphore was no longer held: its lease ran out before release()');
  }

  /** Places free now (the limit minus live holders). */
  async getValue(): Promise<number> {
    return this.link.send<number>(['EVAL', SEM_VALUE, '2', this.key, this.#limitKey]);
  }

  /** Runs `fn` holding one place (TimeoutError if not acquired in time), giving it back after. */
  withLock<R>(fn: () => R | Promise<R>, options?: BlockingOptions | number): Promise<R> {
    return holding(this, 'semaphore', fn, options);
  }

  /** @internal The manager closes: what this object holds is given back. */
  async _abandon(): Promise<void> {
    while (this.#held.length) await this.release().catch(() => {});
  }
}
