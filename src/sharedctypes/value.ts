// Value and RawValue: Python's multiprocessing.Value/RawValue — one typed
// element in shared memory (8 bytes of the shared arena, 16-byte aligned).
//
// Each read or write of `.value` is atomic on its own, as Python's (which
// takes the lock around each access):
//   - integer typecodes, 64-bit ones too: Atomics.load / Atomics.store, so a
//     read is never torn, never cached by the JIT (a loop polling `.value`
//     sees other processes' writes) and ordered with other Atomics;
//   - 'f' and 'd': a plain element access. The element is naturally aligned,
//     and an aligned 4- or 8-byte load or store is a single instruction on
//     x86-64 and arm64, hence never torn (Atomics does not take floats).
// A read-modify-write such as `v.value += 1` is NOT atomic: hold getLock()
// around it (as in Python), or use the atomic helpers add/sub/compareExchange
// on integer values.
//
// The fast path under the lock (`lock.acquireSync(); v.value += 1;
// lock.release()`): on this V8 every Atomics call costs 8-12 ns, as much as
// the rest of the increment. A synchronized 8/16/32-bit value whose lock this
// thread holds uses plain accesses instead, which is sound:
//   - "this thread holds it" is one plain read of the lock's holder word
//     (shm/mutex.ts: 0 or the holder's liveness token). Only this thread
//     writes its own token there and it clears it itself, so the read cannot
//     show our token unless we hold the lock, nor miss it while we do;
//   - while we hold it, the lock's Atomics (the compareExchange that took it,
//     the exchange that will free it) order our plain accesses with those of
//     every other holder, as for any data guarded by a lock;
//   - a plain aligned 8/16/32-bit typed-array access is tear-free by the
//     ECMAScript memory model, so even a racing unlocked access elsewhere
//     sees the old or the new value, never a mix.
// 64-bit integers keep Atomics (plain BigInt64 accesses may tear by the spec).
//
// 'c' reads as a 1-byte Buffer (Python's bytes) and takes a 1-character
// string, a number 0-255 or a 1-byte Uint8Array; '?' (c_bool) reads as a boolean.
import { inspect } from 'node:util';
import { registerHandleType, shareable, type HandleData } from '../codec/handles.js';
import { allocate, Block, type BlockHandle } from '../shm/arena.js';
import { token } from '../shm/liveness.js';
import { Lock } from '../sync/lock.js';
import { RLock } from '../sync/rlock.js';
import { fromElement, toElement, typeInfo, type TypeInfo, type ValueInput, type ValueOf } from './typecodes.js';
import { forwardLock, type LockForwarding } from '../sync/lock-forwarding.js';

/** The `lock` option of Value and Array: true (default) → a new RLock; false → none (raw); a Lock or RLock → that one. */
export type LockOption = boolean | Lock;

/** A lock option as Python's: true (default) → a new RLock; false → none; a Lock/RLock → that one. */
export function lockFor(option: LockOption | undefined): Lock | null {
  if (option === undefined || option === true) return new RLock();
  if (option === false) return null;
  if (option instanceof Lock) return option;
  throw new TypeError(`lock must be true, false, a Lock or an RLock, got ${option === null ? 'null' : typeof option}`);
}

interface ValueHandle {
  typecode: string;
  block: BlockHandle;
  lock: Lock | null;
}

/**
 * Where a value lives. `owner` is the object the arena recycles the block
 * with (shm/arena.ts): every wrapper of the block (the synchronized value and
 * its getObj()) holds it, so the block is not reused while any of them lives.
 */
interface Memory {
  block: Block;
  owner: object;
}

// Kinds as small integers: the accessors branch on them on every access.
const INT = 0;
const BIGINT = 1;
const FLOAT = 2;
const OTHER = 3;

/** A raw shared value (RawValue, or Value with { lock: false }). */
export class SharedValue<T = number | bigint> {
  protected readonly info: TypeInfo;
  protected readonly memory: Memory;
  readonly #view: any; // the element's typed array (length 1)
  readonly #kind: number;
  /** The holder word of the value's lock (a synchronized int value), else null. */
  readonly #holder: Int32Array | null;

  /** @internal Use Value() or RawValue(). */
  constructor(typecode: string, init?: unknown, memory?: Memory, lock?: Lock) {
    this.info = typeInfo(typecode);
    if (memory === undefined) {
      const owner = {};
      memory = { block: allocate(8, owner), owner };
    }
    this.memory = memory;
    const Ctor = this.info.ctor as new (b: SharedArrayBuffer, o: number, n: number) => unknown;
    this.#view = new Ctor(memory.block.sab, memory.block.offset, 1);
    const k = this.info.kind;
    this.#kind = k === 'int' ? INT : k === 'bigint' ? BIGINT : k === 'float' ? FLOAT : OTHER;
    // The lock's holder word: while it holds our token, plain accesses are safe (see the top).
    this.#holder = lock && k === 'int' ? lock._holderWord : null;
    if (init !== undefined) this.value = init as ValueInput;
  }

  /** The canonical one-letter typecode ('i' for 'c_int'). */
  get typecode(): string {
    return this.info.code;
  }

  get value(): T {
    const k = this.#kind;
    if (k === INT && this.#holder !== null && this.#holder[0] === token()) return this.#view[0]; // we hold the lock (see the top)
    if (k <= BIGINT) return Atomics.load(this.#view, 0) as T;
    if (k === FLOAT) return this.#view[0];
    return fromElement(this.info, this.#view[0]) as T;
  }

  set value(v: T | ValueInput) {
    const k = this.#kind;
    if (k === INT && typeof v === 'number' && Number.isInteger(v)) {
      // The common case first.
      if (this.#holder !== null && this.#holder[0] === token()) this.#view[0] = v; // we hold the lock (see the top)
      else Atomics.store(this.#view, 0, v);
    } else if (k <= BIGINT) Atomics.store(this.#view, 0, toElement(this.info, v, 'value') as never);
    else this.#view[0] = toElement(this.info, v, 'value');
  }

  #integer(op: string): void {
    if (this.#kind > BIGINT) throw new TypeError(`${op}() needs an integer typecode, not '${this.info.code}'`);
  }

  /** Atomically adds `n` (wrapping as C does); returns the previous value, as Atomics.add. */
  add(n: number | bigint): T {
    this.#integer('add');
    return Atomics.add(this.#view, 0, toElement(this.info, n, 'add') as never) as T;
  }

  /** Atomically subtracts `n`; returns the previous value, as Atomics.sub. */
  sub(n: number | bigint): T {
    this.#integer('sub');
    return Atomics.sub(this.#view, 0, toElement(this.info, n, 'sub') as never) as T;
  }

  /** Stores `next` if the value is `expected`; returns the previous value either way, as Atomics.compareExchange. */
  compareExchange(expected: number | bigint, next: number | bigint): T {
    this.#integer('compareExchange');
    const e = toElement(this.info, expected, 'expected');
    return Atomics.compareExchange(this.#view, 0, e as never, toElement(this.info, next, 'next') as never) as T;
  }

  /** The lock a handle carries along: none for a raw value. */
  protected get lockOrNull(): Lock | null {
    return null;
  }

  [shareable](): HandleData {
    const data: ValueHandle = { typecode: this.info.code, block: this.memory.block.toHandle('a Value'), lock: this.lockOrNull };
    return { type: 'multiproc.Value', data };
  }

  toString(): string {
    return `${this.constructor.name}('${this.info.code}', ${inspect(this.value)})`;
  }

  [inspect.custom](): string {
    return this.toString();
  }
}

/** A value with a lock: Value() with lock: true (the default: a new RLock) or a given Lock/RLock. */
// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: forwardLock installs the merged interface's methods (below).
export class SynchronizedValue<T = number | bigint> extends SharedValue<T> {
  readonly #lock: Lock;
  #obj: SharedValue<T> | null = null;

  /** @internal Use Value(). */
  constructor(typecode: string, init: unknown, lock: Lock, memory?: Memory) {
    super(typecode, init, memory, lock);
    this.#lock = lock;
  }

  getLock(): Lock {
    return this.#lock;
  }

  /** The raw value (no lock), on the same memory; the same object on every call, as Python's. */
  getObj(): SharedValue<T> {
    return (this.#obj ??= new SharedValue<T>(this.info.code, undefined, this.memory));
  }

  protected override get lockOrNull(): Lock {
    return this.#lock;
  }
}

// biome-ignore lint/correctness/noUnusedVariables: a merged declaration repeats the class's type parameters.
export interface SynchronizedValue<T = number | bigint> extends LockForwarding {}
forwardLock(SynchronizedValue, (v) => v.getLock());

type ValueOptions = { lock?: LockOption };

/**
 * Python's Value(typecode, init = 0, lock = true): a shared value with a lock
 * (a new RLock by default, or the Lock/RLock given), or raw with { lock: false }.
 */
export function Value<TC extends string>(typecode: TC, init?: ValueInput, options?: { lock?: true | Lock }): SynchronizedValue<ValueOf<TC>>;
export function Value<TC extends string>(typecode: TC, init: ValueInput | undefined, options: { lock: false }): SharedValue<ValueOf<TC>>;
export function Value<TC extends string>(typecode: TC, init?: ValueInput, options?: ValueOptions): SynchronizedValue<ValueOf<TC>> | SharedValue<ValueOf<TC>>;
export function Value(typecode: string, init: unknown = 0, options: ValueOptions = {}): SharedValue<unknown> {
  if (typeof options !== 'object' || options === null) throw new TypeError('Value: options must be an object { lock }');
  const info = typeInfo(typecode); // a bad typecode fails before a lock is made
  const lock = lockFor(options.lock);
  return lock ? new SynchronizedValue(info.code, init, lock) : new SharedValue(info.code, init);
}

/** Python's RawValue(typecode, init = 0): a shared value without a lock. */
export function RawValue<TC extends string>(typecode: TC, init: ValueInput = 0): SharedValue<ValueOf<TC>> {
  return new SharedValue<ValueOf<TC>>(typecode, init);
}

// The receiving side: attached to the same memory (never recycled: the block
// was marked shared when the handle was made), with the same lock.
registerHandleType('multiproc.Value', (d: ValueHandle) => {
  const memory: Memory = { block: Block.attach(d.block), owner: {} };
  return d.lock ? new SynchronizedValue(d.typecode, undefined, d.lock, memory) : new SharedValue(d.typecode, undefined, memory);
});
