// Value and RawValue: Python's multiprocessing.Value/RawValue — one typed
// element in shared memory. Each read or write of `.value` is atomic on its
// own: Atomics.load/store for integers (64-bit ones too), and for float and
// double a plain aligned access, a single instruction on x86-64 and arm64.
// A read-modify-write such as `v.value += 1` is not: hold getLock() around it
// (as in Python), or use the atomic helpers add/sub/compareExchange.
import { registerHandleType, shareable, type HandleData } from '../codec/handles.js';
import { allocate, Block, type BlockHandle } from '../shm/arena.js';
import type { AcquireOptions } from '../shm/drive.js';
import { Lock } from '../sync/lock.js';
import { RLock } from '../sync/rlock.js';
import { fromElement, toElement, typeInfo, type TypeInfo } from './typecodes.js';

export type LockOption = boolean | Lock;

/** A lock option as Python's: true (default) → a new RLock; false → none; a Lock/RLock → that one. */
export function lockFor(option: LockOption | undefined): Lock | null {
  if (option === undefined || option === true) return new RLock();
  if (option === false) return null;
  if (option instanceof Lock) return option;
  throw new TypeError("lock must be true, false, a Lock or an RLock");
}

interface ValueHandle {
  typecode: string;
  block: BlockHandle;
  lock: Lock | null;
}

/** A raw shared value (RawValue, or Value with { lock: false }). */
export class SharedValue<T = number | bigint> {
  protected readonly info: TypeInfo;
  protected readonly block: Block;
  protected readonly view: any;
  readonly #atomic: boolean;

  constructor(typecode: string, init: unknown = 0, attach?: never) {
    this.info = typeInfo(typecode);
    this.block = (attach as Block | undefined) ?? allocate(8, this);
    this.view = new (this.info.ctor as new (b: SharedArrayBuffer, o: number, n: number) => unknown)(this.block.sab, this.block.offset, 1);
    this.#atomic = this.info.kind !== 'float';
    if (!attach) this.value = init as T;
  }

  get typecode(): string {
    return this.info.code;
  }

  get value(): T {
    return fromElement(this.info, this.#atomic ? Atomics.load(this.view, 0) : this.view[0]) as T;
  }

  set value(v: T) {
    const x = toElement(this.info, v, 'value');
    if (this.#atomic) Atomics.store(this.view, 0, x as never);
    else this.view[0] = x;
  }

  #integer(op: string): void {
    if (this.info.kind !== 'int' && this.info.kind !== 'bigint') throw new TypeError(`${op}() needs an integer typecode, not '${this.info.code}'`);
  }

  /** Atomically adds `n`; returns the previous value. */
  add(n: T): T {
    this.#integer('add');
    return Atomics.add(this.view, 0, toElement(this.info, n, 'add') as never) as T;
  }

  /** Atomically subtracts `n`; returns the previous value. */
  sub(n: T): T {
    this.#integer('sub');
    return Atomics.sub(this.view, 0, toElement(this.info, n, 'sub') as never) as T;
  }

  /** Stores `next` if the value is `expected`; returns the previous value either way. */
  compareExchange(expected: T, next: T): T {
    this.#integer('compareExchange');
    return Atomics.compareExchange(this.view, 0, toElement(this.info, expected, 'expected') as never, toElement(this.info, next, 'next') as never) as T;
  }

  protected get lockOrNull(): Lock | null {
    return null;
  }

  [shareable](): HandleData {
    const data: ValueHandle = { typecode: this.info.code, block: this.block.toHandle('a Value'), lock: this.lockOrNull };
    return { type: 'multiproc.Value', data };
  }

  toString(): string {
    return `${this.constructor.name}('${this.info.code}', ${String(this.value)})`;
  }
}

/** A value with a lock (Value with lock: true, the default, or a given Lock/RLock). */
export class SynchronizedValue<T = number | bigint> extends SharedValue<T> {
  readonly #lock: Lock;

  constructor(typecode: string, init: unknown, lock: Lock, attach?: never) {
    super(typecode, init, attach);
    this.#lock = lock;
  }

  getLock(): Lock {
    return this.#lock;
  }

  /** The raw value (no lock), on the same memory. */
  getObj(): SharedValue<T> {
    return new SharedValue<T>(this.info.code, undefined, this.block as never);
  }

  acquire(options?: AcquireOptions | number): Promise<boolean> {
    return this.#lock.acquire(options);
  }
  acquireSync(options?: AcquireOptions | number): boolean {
    return this.#lock.acquireSync(options);
  }
  release(): void {
    this.#lock.release();
  }
  withLock<R>(fn: () => R | Promise<R>): Promise<R> {
    return this.#lock.withLock(fn);
  }

  protected override get lockOrNull(): Lock {
    return this.#lock;
  }
}

/** Python's Value(typecode, init, lock=True): a shared value with a lock, or raw with { lock: false }. */
export function Value<T = number | bigint>(typecode: string, init: unknown = 0, options: { lock?: LockOption } = {}): SynchronizedValue<T> | SharedValue<T> {
  const lock = lockFor(options.lock);
  return lock ? new SynchronizedValue<T>(typecode, init, lock) : new SharedValue<T>(typecode, init);
}

/** Python's RawValue(typecode, init): a shared value without a lock. */
export function RawValue<T = number | bigint>(typecode: string, init: unknown = 0): SharedValue<T> {
  return new SharedValue<T>(typecode, init);
}

registerHandleType('multiproc.Value', (d: ValueHandle) => {
  const block = Block.attach(d.block) as never;
  return d.lock ? new SynchronizedValue(d.typecode, undefined, d.lock, block) : new SharedValue(d.typecode, undefined, block);
});
