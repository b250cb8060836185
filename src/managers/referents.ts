// The objects behind a manager's list, dict, Namespace, Value, Array, Queue
// and JoinableQueue proxies, living in the server. Each public method is what
// a proxy can call (camelCase names of Python's methods; Python's operators
// as get/set/delete/length/has). Python's IndexError, KeyError and ValueError
// are RangeErrors; values compare as Python's == does (deep equality).
import { isDeepStrictEqual } from 'node:util';
import { Empty, Full } from '../errors.js';
import { deadlineOf, type AcquireOptions } from '../options.js';
import { fromElement, toElement, typeInfo } from '../sharedctypes/typecodes.js';
import { callerId, onClientGone, WaitList } from './waiters.js';

const equal = (a: unknown, b: unknown): boolean => a === b || isDeepStrictEqual(a, b);
const repr = (v: unknown): string => (typeof v === 'string' ? `'${v}'` : String(v));

function checkInt(i: unknown, what = 'index'): number {
  if (!Number.isInteger(i)) throw new TypeError(`${what} must be an integer, not ${typeof i}`);
  return i as number;
}

/** A Python index (negative counts from the end) as a position; RangeError when out of range. */
function position(i: unknown, length: number, what: string): number {
  const n = checkInt(i);
  const at = n < 0 ? length + n : n;
  if (at < 0 || at >= length) throw new RangeError(`${what} index out of range`);
  return at;
}

/** Python's ordering for sort(): numbers, bigints and strings among themselves. */
function compare(a: unknown, b: unknown): number {
  const ta = typeof a === 'bigint' ? 'number' : typeof a;
  const tb = typeof b === 'bigint' ? 'number' : typeof b;
  if (ta !== tb || (ta !== 'number' && ta !== 'string' && ta !== 'boolean')) {
    throw new TypeError(`'<' not supported between a ${typeof a} and a ${typeof b}`);
  }
  return (a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0;
}

export class ListReferent {
  readonly #items: unknown[];

  constructor(init: Iterable<unknown> = []) {
    this.#items = [...init];
  }

  #at(i: unknown): number {
    return position(i, this.#items.length, 'list');
  }

  append(item: unknown): void {
    this.#items.push(item);
  }
  extend(items: Iterable<unknown>): void {
    for (const item of items) this.#items.push(item);
  }
  insert(i: number, item: unknown): void {
    const n = checkInt(i);
    const len = this.#items.length;
    this.#items.splice(n < 0 ? Math.max(0, len + n) : Math.min(n, len), 0, item);
  }
  pop(i = -1): unknown {
    if (this.#items.length === 0) throw new RangeError('pop from empty list');
    return this.#items.splice(this.#at(i), 1)[0];
  }
  remove(item: unknown): void {
    const i = this.#items.findIndex((x) => equal(x, item));
    if (i < 0) throw new RangeError(`list.remove(x): ${repr(item)} not in list`);
    this.#items.splice(i, 1);
  }
  index(item: unknown, start = 0, stop = this.#items.length): number {
    const n = this.#items.length;
    const clamp = (i: number) => Math.min(n, Math.max(0, i < 0 ? n + i : i)); // Python's slice bounds
    for (let i = clamp(start); i < clamp(stop); i++) if (equal(this.#items[i], item)) return i;
    throw new RangeError(`${repr(item)} is not in list`);
  }
  count(item: unknown): number {
    return this.#items.reduce((n: number, x) => n + (equal(x, item) ? 1 : 0), 0);
  }
  /** Sorts in place, in Python's order; `{ reverse: true }` for descending (a key function cannot travel). */
  sort(options: { reverse?: boolean } = {}): void {
    this.#items.sort(compare);
    if (options.reverse) this.#items.reverse();
  }
  reverse(): void {
    this.#items.reverse();
  }
  get(i: number): unknown {
    return this.#items[this.#at(i)];
  }
  set(i: number, item: unknown): void {
    this.#items[this.#at(i)] = item;
  }
  delete(i: number): void {
    this.#items.splice(this.#at(i), 1);
  }
  length(): number {
    return this.#items.length;
  }
  includes(item: unknown): boolean {
    return this.#items.some((x) => equal(x, item));
  }
  clear(): void {
    this.#items.length = 0;
  }
  /** Python's l[start:stop], with negative positions from the end. */
  slice(start?: number, end?: number): unknown[] {
    return this.#items.slice(start, end);
  }
  toArray(): unknown[] {
    return this.#items.slice();
  }
}

type Key = string | number | bigint | boolean | null | undefined;

function checkKey(key: unknown): Key {
  if (key !== null && typeof key === 'object') throw new TypeError(`unhashable type: '${(key as object).constructor?.name ?? 'object'}' (dict keys are primitives)`);
  return key as Key;
}

export class DictReferent {
  readonly #map = new Map<Key, unknown>();

  constructor(init?: Record<string, unknown> | Iterable<[unknown, unknown]> | Map<unknown, unknown>) {
    if (init !== undefined) this.update(init);
  }

  get(key: unknown, fallback?: unknown): unknown {
    const k = checkKey(key);
    return this.#map.has(k) ? this.#map.get(k) : fallback;
  }
  set(key: unknown, value: unknown): void {
    this.#map.set(checkKey(key), value);
  }
  delete(key: unknown): void {
    if (!this.#map.delete(checkKey(key))) throw new RangeError(`KeyError: ${repr(key)}`);
  }
  has(key: unknown): boolean {
    return this.#map.has(checkKey(key));
  }
  keys(): Key[] {
    return [...this.#map.keys()];
  }
  values(): unknown[] {
    return [...this.#map.values()];
  }
  items(): [Key, unknown][] {
    return [...this.#map.entries()];
  }
  update(other: Record<string, unknown> | Iterable<[unknown, unknown]> | Map<unknown, unknown>): void {
    if (other === null || typeof other !== 'object') throw new TypeError('update() takes an object, a Map or [key, value] pairs');
    const entries = other instanceof Map || Symbol.iterator in other ? (other as Iterable<[unknown, unknown]>) : Object.entries(other);
    for (const [k, v] of entries) this.#map.set(checkKey(k), v);
  }
  /** Removes `key` and returns its value; the default if absent, or RangeError (Python's KeyError) when none is given. */
  pop(key: unknown, ...fallback: unknown[]): unknown {
    const k = checkKey(key);
    if (!this.#map.has(k)) {
      if (fallback.length > 0) return fallback[0];
      throw new RangeError(`KeyError: ${repr(key)}`);
    }
    const v = this.#map.get(k);
    this.#map.delete(k);
    return v;
  }
  /** Removes and returns the last [key, value] inserted. */
  popitem(): [Key, unknown] {
    const last = [...this.#map.keys()].pop();
    if (last === undefined && this.#map.size === 0) throw new RangeError('KeyError: popitem(): dictionary is empty');
    const v = this.#map.get(last);
    this.#map.delete(last);
    return [last, v];
  }
  setdefault(key: unknown, fallback?: unknown): unknown {
    const k = checkKey(key);
    if (!this.#map.has(k)) this.#map.set(k, fallback);
    return this.#map.get(k);
  }
  clear(): void {
    this.#map.clear();
  }
  length(): number {
    return this.#map.size;
  }
  /** A plain object (keys as strings). */
  toObject(): Record<string, unknown> {
    return Object.fromEntries(this.#map);
  }
  toMap(): Map<Key, unknown> {
    return new Map(this.#map);
  }
}

/** Namespace: named attributes (`await ns.x` and `ns.x = v` on the proxy). */
export class NamespaceReferent {
  readonly #attrs = new Map<string, unknown>();

  constructor(init: Record<string, unknown> = {}) {
    for (const [k, v] of Object.entries(init)) this.#attrs.set(k, v);
  }

  get(name: string): unknown {
    return this.#attrs.get(String(name));
  }
  set(name: string, value: unknown): void {
    this.#attrs.set(String(name), value);
  }
  delete(name: string): void {
    if (!this.#attrs.delete(String(name))) throw new RangeError(`Namespace has no attribute ${repr(name)}`);
  }
  has(name: string): boolean {
    return this.#attrs.has(String(name));
  }
  toObject(): Record<string, unknown> {
    return Object.fromEntries(this.#attrs);
  }
}

/** manager.Value(typecode, value): a value with get/set (Python's ValueProxy; the typecode checks and converts). */
export class ValueReferent {
  readonly #info;
  #value: unknown;

  constructor(typecode: string, value: unknown) {
    this.#info = typeInfo(typecode);
    this.#value = fromElement(this.#info, toElement(this.#info, value, 'value'));
  }

  get(): unknown {
    return this.#value;
  }
  set(value: unknown): void {
    this.#value = fromElement(this.#info, toElement(this.#info, value, 'value'));
  }
}

/** manager.Array(typecode, sequence): Python's ArrayProxy over array.array. */
export class ArrayReferent {
  readonly #info;
  readonly #items: (number | bigint)[];

  constructor(typecode: string, init: Iterable<unknown> | number) {
    this.#info = typeInfo(typecode);
    const values = typeof init === 'number' ? new Array(checkInt(init, 'size')).fill(0) : [...init];
    this.#items = values.map((v, i) => toElement(this.#info, v, `sequence[${i}]`));
  }

  #at(i: unknown): number {
    return position(i, this.#items.length, 'array');
  }
  get(i: number): unknown {
    return fromElement(this.#info, this.#items[this.#at(i)]);
  }
  set(i: number, value: unknown): void {
    this.#items[this.#at(i)] = toElement(this.#info, value, 'value');
  }
  length(): number {
    return this.#items.length;
  }
  toArray(): unknown[] {
    return this.#items.map((v) => fromElement(this.#info, v));
  }
}

type BlockingOptions = Pick<AcquireOptions, 'block' | 'timeout'>;
const NOTHING = Symbol('nothing');

/** manager.Queue(maxsize) and JoinableQueue: Python's queue.Queue in the server (task_done/join included). */
export class QueueReferent {
  readonly #maxsize: number;
  readonly #items: unknown[] = [];
  readonly #getters = new WaitList<unknown>();
  readonly #putters = new WaitList<boolean, { item: unknown }>();
  readonly #joiners = new WaitList<void>();
  #unfinished = 0;

  constructor(maxsize = 0) {
    this.#maxsize = Math.max(0, maxsize);
  }

  put(item: unknown, options?: BlockingOptions): void | Promise<void> {
    const deadline = deadlineOf(options);
    if (this.#putters.length === 0 && !this.full()) return this.#accept(item);
    if (deadline === -Infinity) throw new Full('the queue is full');
    return this.#putters.wait(callerId(), deadline, false, { item }).then((ok) => {
      if (!ok) throw new Full('the queue is full');
    });
  }

  #accept(item: unknown): void {
    this.#unfinished++;
    const getter = this.#getters.shift();
    if (getter) getter.resolve(item);
    else this.#items.push(item);
  }

  get(options?: BlockingOptions): unknown {
    const deadline = deadlineOf(options);
    if (this.#items.length > 0) {
      const item = this.#items.shift();
      this.#admitPutter();
      return item;
    }
    if (deadline === -Infinity) throw new Empty('the queue is empty');
    return this.#getters.wait(callerId(), deadline, NOTHING).then((item) => {
      if (item === NOTHING) throw new Empty('the queue is empty');
      return item;
    });
  }

  /** A slot is free: the first waiting putter's item goes in. */
  #admitPutter(): void {
    const putter = this.#putters.shift();
    if (!putter) return;
    this.#accept(putter.item);
    putter.resolve(true);
  }

  putNowait(item: unknown): void | Promise<void> {
    return this.put(item, { block: false });
  }
  getNowait(): unknown {
    return this.get({ block: false });
  }
  qsize(): number {
    return this.#items.length;
  }
  empty(): boolean {
    return this.#items.length === 0;
  }
  full(): boolean {
    return this.#maxsize > 0 && this.#items.length >= this.#maxsize;
  }
  taskDone(): void {
    if (this.#unfinished <= 0) throw new RangeError('task_done() called too many times');
    if (--this.#unfinished === 0) for (const j of this.#joiners.takeAll()) j.resolve();
  }
  join(): void | Promise<void> {
    if (this.#unfinished === 0) return;
    return this.#joiners.wait(callerId(), Infinity, undefined);
  }

  [onClientGone](id: number): void {
    this.#getters.dropCaller(id);
    this.#putters.dropCaller(id);
    this.#joiners.dropCaller(id);
  }
}
