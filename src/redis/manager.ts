// The Manager's types across machines: dict, list, Value, Lock and Event,
// living in Redis under the cluster's namespace, by name (every host that
// opens the name shares the object) or unnamed (a fresh object, deleted when
// the manager that made it closes). Every method returns a Promise; values
// travel through the codec (encodePortable). Python's KeyError and
// IndexError are RangeErrors, as in the local manager.
//
// A Lock is a lease: SET NX PX with a random token, renewed every third of
// the lease while held, released only by its holder's token (a Lua
// compare-and-delete), so a holder that dies frees it after leaseMs. Each
// acquisition takes the next fencing number (lock.fence), which a protected
// resource can use to refuse a holder whose lease ran out.
import { randomUUID } from 'node:crypto';
import { decode, encodePortable } from '../codec/codec.js';
import { TimeoutError } from '../errors.js';
import { deadlineOf, msLeft, signalOf, type BlockingOptions } from '../options.js';
import type { RedisLink } from './client.js';

const POLL_MS = [2, 5, 10, 20, 50, 100];
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
const enc = (value: unknown, what: string): Buffer => Buffer.from(encodePortable(value, what));
const dec = (b: Buffer | null | undefined): unknown => (b ? decode(b) : undefined);

/** Waits for `attempt` to succeed, polling with backoff until the options' deadline. */
async function until(attempt: () => Promise<boolean>, options: BlockingOptions | number | undefined): Promise<boolean> {
  const deadline = deadlineOf(options);
  const signal = signalOf(options);
  for (let i = 0; ; i++) {
    signal?.throwIfAborted();
    if (await attempt()) return true;
    if (Date.now() >= deadline) return false;
    await pause(Math.min(POLL_MS[Math.min(i, POLL_MS.length - 1)], msLeft(deadline)));
  }
}

function checkKey(key: unknown): void {
  if (key !== null && typeof key === 'object') throw new TypeError(`unhashable type: '${(key as object).constructor?.name ?? 'object'}' (dict keys are primitives)`);
}

abstract class RedisObject {
  constructor(
    protected readonly link: RedisLink,
    readonly key: string,
  ) {}
}

export class RedisDict extends RedisObject {
  async get(key: unknown, fallback?: unknown): Promise<unknown> {
    checkKey(key);
    const v = await this.link.send<Buffer | null>(['HGET', this.key, enc(key, 'key')]);
    return v ? decode(v) : fallback;
  }
  async set(key: unknown, value: unknown): Promise<void> {
    checkKey(key);
    await this.link.send(['HSET', this.key, enc(key, 'key'), enc(value, 'value')]);
  }
  async delete(key: unknown): Promise<void> {
    checkKey(key);
    if ((await this.link.send<number>(['HDEL', this.key, enc(key, 'key')])) === 0) throw new RangeError(`KeyError: ${String(key)}`);
  }
  async has(key: unknown): Promise<boolean> {
    checkKey(key);
    return (await this.link.send<number>(['HEXISTS', this.key, enc(key, 'key')])) === 1;
  }
  async length(): Promise<number> {
    return this.link.send<number>(['HLEN', this.key]);
  }
  async keys(): Promise<unknown[]> {
    return (await this.link.send<Buffer[]>(['HKEYS', this.key])).map((b) => decode(b));
  }
  async values(): Promise<unknown[]> {
    return (await this.link.send<Buffer[]>(['HVALS', this.key])).map((b) => decode(b));
  }
  async items(): Promise<[unknown, unknown][]> {
    const flat = await this.link.send<Buffer[] | Map<Buffer, Buffer>>(['HGETALL', this.key]);
    const pairs: [unknown, unknown][] = [];
    if (flat instanceof Map) for (const [k, v] of flat) pairs.push([decode(k), decode(v)]);
    else for (let i = 0; i < flat.length; i += 2) pairs.push([decode(flat[i]), decode(flat[i + 1])]);
    return pairs;
  }
  async toMap(): Promise<Map<unknown, unknown>> {
    return new Map(await this.items());
  }
  async update(entries: Record<string, unknown> | Map<unknown, unknown> | Iterable<[unknown, unknown]>): Promise<void> {
    const pairs = entries instanceof Map || Symbol.iterator in Object(entries) ? [...(entries as Iterable<[unknown, unknown]>)] : Object.entries(entries);
    if (pairs.length === 0) return;
    const args: (string | Buffer)[] = ['HSET', this.key];
    for (const [k, v] of pairs) {
      checkKey(k);
      args.push(enc(k, 'key'), enc(v, 'value'));
    }
    await this.link.send(args);
  }
  /** Removes `key` and returns its value; `fallback` (or KeyError) when absent. */
  async pop(key: unknown, ...fallback: [unknown?]): Promise<unknown> {
    checkKey(key);
    const k = enc(key, 'key');
    const v = await this.link.send<Buffer | null>(['EVAL', "local v = redis.call('HGET', KEYS[1], ARGV[1]) if v then redis.call('HDEL', KEYS[1], ARGV[1]) end return v", '1', this.key, k]);
    if (v) return decode(v);
    if (fallback.length) return fallback[0];
    throw new RangeError(`KeyError: ${String(key)}`);
  }
  /** The value of `key`, first setting it to `fallback` if absent (atomically). */
  async setdefault(key: unknown, fallback?: unknown): Promise<unknown> {
    checkKey(key);
    const k = enc(key, 'key');
    await this.link.send(['HSETNX', this.key, k, enc(fallback, 'value')]);
    return dec(await this.link.send<Buffer | null>(['HGET', this.key, k]));
  }
  async clear(): Promise<void> {
    await this.link.send(['DEL', this.key]);
  }
}

/** A Python index of a list of `length` items: RangeError when out of range. */
function position(i: unknown, length: number): number {
  if (!Number.isInteger(i)) throw new TypeError(`list indices must be integers, not ${typeof i}`);
  const at = (i as number) < 0 ? length + (i as number) : (i as number);
  if (at < 0 || at >= length) throw new RangeError('list index out of range');
  return at;
}

export class RedisList extends RedisObject {
  async append(item: unknown): Promise<void> {
    await this.link.send(['RPUSH', this.key, enc(item, 'item')]);
  }
  async extend(items: Iterable<unknown>): Promise<void> {
    const all = [...items].map((x, i) => enc(x, `items[${i}]`));
    if (all.length) await this.link.send(['RPUSH', this.key, ...all]);
  }
  async length(): Promise<number> {
    return this.link.send<number>(['LLEN', this.key]);
  }
  async get(i: number): Promise<unknown> {
    if (!Number.isInteger(i)) throw new TypeError(`list indices must be integers, not ${typeof i}`);
    const v = await this.link.send<Buffer | null>(['LINDEX', this.key, String(i)]);
    if (!v) throw new RangeError('list index out of range');
    return decode(v);
  }
  async set(i: number, item: unknown): Promise<void> {
    const bytes = enc(item, 'item');
    position(i, await this.length()); // (a clear IndexError; LSET checks again atomically)
    await this.link.send(['LSET', this.key, String(i), bytes]).catch((err: Error) => {
      throw /index out of range|no such key/i.test(err.message) ? new RangeError('list assignment index out of range') : err;
    });
  }
  /** Removes and returns the item at `i` (default the last). */
  async pop(i = -1): Promise<unknown> {
    if (!Number.isInteger(i)) throw new TypeError(`list indices must be integers, not ${typeof i}`);
    const script = `local n = redis.call('LLEN', KEYS[1]) local i = tonumber(ARGV[1]) if i < 0 then i = n + i end
if i < 0 or i >= n then return false end
local v = redis.call('LINDEX', KEYS[1], i) local mark = ARGV[2]
redis.call('LSET', KEYS[1], i, mark) redis.call('LREM', KEYS[1], 1, mark) return v`;
    const v = await this.link.send<Buffer | null>(['EVAL', script, '1', this.key, String(i), `\u0000pop:${randomUUID()}`]);
    if (!v) throw new RangeError('pop index out of range');
    return decode(v);
  }
  async toArray(): Promise<unknown[]> {
    return this.slice();
  }
  async slice(start = 0, end?: number): Promise<unknown[]> {
    const stop = end === undefined ? -1 : end - 1;
    if (end !== undefined && end === 0) return [];
    return (await this.link.send<Buffer[]>(['LRANGE', this.key, String(start), String(stop)])).map((b) => decode(b));
  }
  async includes(item: unknown): Promise<boolean> {
    return (await this.link.send<number | null>(['LPOS', this.key, enc(item, 'item')])) !== null;
  }
  async index(item: unknown): Promise<number> {
    const at = await this.link.send<number | null>(['LPOS', this.key, enc(item, 'item')]);
    if (at === null) throw new RangeError(`${String(item)} is not in list`);
    return at;
  }
  async clear(): Promise<void> {
    await this.link.send(['DEL', this.key]);
  }
}

const NUMERIC = /^(?:[bBhHiIlLqQfd]|c_(?:byte|ubyte|short|ushort|int|uint|long|ulong|longlong|ulonglong|float|double))$/;
const FLOAT = /^(?:f|d|c_float|c_double)$/;

/** `v` as Redis stores a number of `typecode`: TypeError if it is not one. */
function numberText(typecode: string, v: unknown): string {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new TypeError(`a '${typecode}' Value holds a finite number, got ${typeof v}`);
  if (!FLOAT.test(typecode) && !Number.isSafeInteger(v)) throw new TypeError(`a '${typecode}' Value holds an integer, got ${v}`);
  return String(v);
}

/** A shared number: get(), set(v), and add(delta) done atomically in Redis. */
export class RedisValue extends RedisObject {
  constructor(
    link: RedisLink,
    key: string,
    readonly typecode: string,
  ) {
    super(link, key);
  }
  async get(): Promise<number> {
    return Number(((await this.link.send<Buffer | null>(['GET', this.key])) ?? '0').toString());
  }
  async set(v: number): Promise<void> {
    await this.link.send(['SET', this.key, numberText(this.typecode, v)]);
  }
  /** Adds `delta` in Redis (INCRBY / INCRBYFLOAT) and returns the new value: a safe `+=` across hosts. */
  async add(delta: number): Promise<number> {
    const r = await this.link.send<Buffer | number>([FLOAT.test(this.typecode) ? 'INCRBYFLOAT' : 'INCRBY', this.key, numberText(this.typecode, delta)]);
    return Number(r.toString());
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

  async withLock<R>(fn: () => R | Promise<R>, options?: BlockingOptions | number): Promise<R> {
    if (!(await this.acquire(options))) throw new TimeoutError('the lock was not acquired in time');
    try {
      return await fn();
    } finally {
      await this.release();
    }
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

export class RedisEvent extends RedisObject {
  async set(): Promise<void> {
    await this.link.send(['SET', this.key, '1']);
  }
  async clear(): Promise<void> {
    await this.link.send(['DEL', this.key]);
  }
  async isSet(): Promise<boolean> {
    return (await this.link.send<number>(['EXISTS', this.key])) === 1;
  }
  /** True once set; false after `timeout` ms. */
  wait(timeout?: number | BlockingOptions): Promise<boolean> {
    return until(() => this.isSet(), timeout);
  }
}

export class RedisManager {
  readonly #link: RedisLink;
  readonly #prefix: string;
  readonly #leaseMs: number;
  readonly #unnamed: string[] = [];
  readonly #locks: RedisLock[] = [];

  /** @internal Use cluster.Manager(). */
  constructor(link: RedisLink, namespace: string, leaseMs: number) {
    this.#link = link;
    this.#prefix = `${namespace}:manager`;
    this.#leaseMs = leaseMs;
  }

  #key(kind: string, name: string | undefined): string {
    if (name !== undefined && (typeof name !== 'string' || name === '')) throw new TypeError('an object name must be a non-empty string');
    const key = `${this.#prefix}:${kind}:${name ?? `unnamed:${randomUUID()}`}`;
    if (name === undefined) this.#unnamed.push(key, `${key}:fence`);
    return key;
  }

  async dict(name?: string, init?: Record<string, unknown> | Map<unknown, unknown>): Promise<RedisDict> {
    const d = new RedisDict(this.#link, this.#key('dict', name));
    if (init) await d.update(init);
    return d;
  }

  async list(name?: string, init?: Iterable<unknown>): Promise<RedisList> {
    const l = new RedisList(this.#link, this.#key('list', name));
    if (init) await l.extend(init);
    return l;
  }

  /** A shared number: `typecode` as Python's ('i', 'd', ...); `init` is set only if the named Value does not exist yet. */
  async Value(typecode: string, init = 0, name?: string): Promise<RedisValue> {
    if (typeof typecode !== 'string' || !NUMERIC.test(typecode)) throw new TypeError(`a cluster Value holds a number: typecode must be one of b B h H i I l L q Q f d (or a c_ name), got ${String(typecode)}`);
    const text = numberText(typecode, init);
    const v = new RedisValue(this.#link, this.#key('value', name), typecode);
    await this.#link.send(['SET', v.key, text, 'NX']);
    return v;
  }

  async Lock(name?: string): Promise<RedisLock> {
    const lock = new RedisLock(this.#link, this.#key('lock', name), this.#leaseMs);
    this.#locks.push(lock);
    return lock;
  }

  async Event(name?: string): Promise<RedisEvent> {
    return new RedisEvent(this.#link, this.#key('event', name));
  }

  /** Releases the locks this manager's objects hold and deletes its unnamed objects; named ones stay for the other hosts. */
  async close(): Promise<void> {
    for (const lock of this.#locks) await lock._abandon();
    const keys = this.#unnamed.splice(0);
    if (keys.length) await this.#link.send(['DEL', ...keys]);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
