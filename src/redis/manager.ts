// The Manager's types across machines: dict, list, Namespace, Value, Lock,
// Semaphore and Event, living in Redis under the cluster's namespace, by name
// (every host that opens the name shares the object) or unnamed (a fresh
// object, deleted when the manager that made it closes). Every method
// returns a Promise; values travel through the codec (encodePortable).
// Python's KeyError and IndexError are RangeErrors, as in the local manager.
// Lock and Semaphore are leases (leases.ts).
import { randomUUID } from 'node:crypto';
import { decodePortable, encodePortable } from '../codec/codec.js';
import type { BlockingOptions } from '../options.js';
import type { RedisLink } from './client.js';
import { RedisLock, RedisSemaphore } from './leases.js';
import { RedisObject } from './object.js';
import { until } from './poll.js';

const enc = (value: unknown, what: string): Buffer => Buffer.from(encodePortable(value, what));
const dec = (b: Buffer | null | undefined): unknown => (b ? decodePortable(b) : undefined);

function checkKey(key: unknown): void {
  if (key !== null && typeof key === 'object') throw new TypeError(`unhashable type: '${(key as object).constructor?.name ?? 'object'}' (dict keys are primitives)`);
}


export class RedisDict extends RedisObject {
  async get(key: unknown, fallback?: unknown): Promise<unknown> {
    checkKey(key);
    const v = await this.link.send<Buffer | null>(['HGET', this.key, enc(key, 'key')]);
    return v ? decodePortable(v) : fallback;
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
    return (await this.link.send<Buffer[]>(['HKEYS', this.key])).map((b) => decodePortable(b));
  }
  async values(): Promise<unknown[]> {
    return (await this.link.send<Buffer[]>(['HVALS', this.key])).map((b) => decodePortable(b));
  }
  async items(): Promise<[unknown, unknown][]> {
    const flat = await this.link.send<Buffer[] | Map<Buffer, Buffer>>(['HGETALL', this.key]);
    const pairs: [unknown, unknown][] = [];
    if (flat instanceof Map) for (const [k, v] of flat) pairs.push([decodePortable(k), decodePortable(v)]);
    else for (let i = 0; i < flat.length; i += 2) pairs.push([decodePortable(flat[i]), decodePortable(flat[i + 1])]);
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
    if (v) return decodePortable(v);
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
    return decodePortable(v);
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
    return decodePortable(v);
  }
  async toArray(): Promise<unknown[]> {
    return this.slice();
  }
  async slice(start = 0, end?: number): Promise<unknown[]> {
    const stop = end === undefined ? -1 : end - 1;
    if (end !== undefined && end === 0) return [];
    return (await this.link.send<Buffer[]>(['LRANGE', this.key, String(start), String(stop)])).map((b) => decodePortable(b));
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
  readonly #holders: (RedisLock | RedisSemaphore)[] = [];

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
    this.#holders.push(lock);
    return lock;
  }

  /** A counting semaphore of leases; `value` is its limit (kept from the first opener of a name). */
  async Semaphore(value = 1, name?: string): Promise<RedisSemaphore> {
    if (!Number.isInteger(value) || value < 0) throw new RangeError('semaphore initial value must be a non-negative integer');
    const sem = new RedisSemaphore(this.#link, this.#key('semaphore', name), this.#leaseMs);
    if (name === undefined) this.#unnamed.push(`${sem.key}:limit`);
    await this.#link.send(['SET', `${sem.key}:limit`, String(value), 'NX']);
    this.#holders.push(sem);
    return sem;
  }

  /**
   * Attributes shared across hosts: `await ns.x` reads, `ns.x = v` writes
   * (sent in order with this host's other calls; an unsendable value throws
   * at once), `delete ns.x` deletes. A write that failed in Redis makes the
   * next read reject with its error.
   */
  async Namespace(name?: string, init: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    const dict = new RedisDict(this.#link, this.#key('namespace', name));
    await dict.update(init);
    const link = this.#link;
    let failed: unknown = null;
    const remember = (err: unknown) => void (failed ??= err);
    return new Proxy(Object.create(null) as Record<string, unknown>, {
      get(_t, prop) {
        if (typeof prop !== 'string' || prop === 'then') return undefined; // (not a thenable: `await m.Namespace()` gives it)
        const err = failed;
        failed = null;
        const read = err ? Promise.reject(err) : dict.get(prop);
        read.catch(() => {}); // a probe nobody awaits must not be an unhandled rejection
        return read;
      },
      set(_t, prop, value) {
        if (typeof prop !== 'string') throw new TypeError('Namespace attributes are strings');
        const bytes = enc(value, `ns.${prop}`); // (here: an unsendable value throws at once)
        link.send(['HSET', dict.key, enc(prop, 'key'), bytes]).catch(remember);
        return true;
      },
      deleteProperty(_t, prop) {
        if (typeof prop === 'string') dict.delete(prop).catch(() => {});
        return true;
      },
    });
  }

  async Event(name?: string): Promise<RedisEvent> {
    return new RedisEvent(this.#link, this.#key('event', name));
  }

  /** Releases the locks this manager's objects hold and deletes its unnamed objects; named ones stay for the other hosts. */
  async close(): Promise<void> {
    for (const holder of this.#holders) await holder._abandon();
    const keys = this.#unnamed.splice(0);
    if (keys.length) await this.#link.send(['DEL', ...keys]);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
