// Array and RawArray: Python's multiprocessing.Array/RawArray. The result IS
// a typed array over shared memory (an instance of a subclass of the element
// type's typed array), so indexing, length and iteration run at native speed;
// slice() and map() return plain copies (the subclass's species is the base
// class). A synchronized array also has getLock(), getObj(), acquire() and
// release(). Element access is not locked, as a typed array's is not:
// hold getLock() around read-modify-writes, or use Atomics on integer arrays.
import { registerHandleType, shareable, type HandleData } from '../codec/handles.js';
import { allocate, Block, type BlockHandle } from '../shm/arena.js';
import type { AcquireOptions } from '../shm/drive.js';
import type { Lock } from '../sync/lock.js';
import { lockFor, type LockOption } from './value.js';
import { toElement, typeInfo, type TypeInfo } from './typecodes.js';

type AnyTypedArray = Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | Float32Array | Float64Array | BigInt64Array | BigUint64Array;

/** A shared typed array (RawArray, or Array with { lock: false }). */
export type RawSharedArray<A extends AnyTypedArray = AnyTypedArray> = A & { readonly typecode: string };

/** A shared typed array with a lock (Array, the default). */
export type SynchronizedArray<A extends AnyTypedArray = AnyTypedArray> = RawSharedArray<A> & {
  getLock(): Lock;
  getObj(): RawSharedArray<A>;
  acquire(options?: AcquireOptions | number): Promise<boolean>;
  acquireSync(options?: AcquireOptions | number): boolean;
  release(): void;
  withLock<R>(fn: () => R | Promise<R>): Promise<R>;
};

interface ArrayState {
  info: TypeInfo;
  block: Block;
  lock: Lock | null;
}

interface ArrayHandle {
  typecode: string;
  block: BlockHandle;
  length: number;
  lock: Lock | null;
}

const states = new WeakMap<object, ArrayState>();
const arenaOwner = Symbol('arenaOwner');
type Ctor = new (buffer: SharedArrayBuffer, byteOffset: number, length: number) => AnyTypedArray;
const classes = new Map<unknown, { raw: Ctor; synced: Ctor }>();

function stateOf(arr: object): ArrayState {
  const st = states.get(arr);
  if (!st) throw new TypeError('not a shared array');
  return st;
}

function lockOf(arr: object): Lock {
  return stateOf(arr).lock!;
}

/** The two subclasses (raw, synchronized) of a typed array class. */
function classesFor(Base: Ctor): { raw: Ctor; synced: Ctor } {
  let pair = classes.get(Base);
  if (pair) return pair;
  const B = Base as unknown as new (...args: unknown[]) => Uint8Array; // typed as one of them: the methods below are common to all
  class Raw extends B {
    static get [Symbol.species]() {
      return Base;
    }
    get typecode(): string {
      return stateOf(this).info.code;
    }
    [shareable](): HandleData {
      const st = stateOf(this);
      const data: ArrayHandle = { typecode: st.info.code, block: st.block.toHandle('an Array'), length: this.length, lock: st.lock };
      return { type: 'multiproc.Array', data };
    }
  }
  class Synced extends Raw {
    getLock(): Lock {
      return lockOf(this);
    }
    getObj(): AnyTypedArray {
      const st = stateOf(this);
      return wrap(st.info, st.block, this.length, null);
    }
    acquire(options?: AcquireOptions | number): Promise<boolean> {
      return lockOf(this).acquire(options);
    }
    acquireSync(options?: AcquireOptions | number): boolean {
      return lockOf(this).acquireSync(options);
    }
    release(): void {
      lockOf(this).release();
    }
    withLock<R>(fn: () => R | Promise<R>): Promise<R> {
      return lockOf(this).withLock(fn);
    }
  }
  const name = (Base as unknown as { name: string }).name;
  Object.defineProperty(Raw, 'name', { value: `Shared${name}` });
  Object.defineProperty(Synced, 'name', { value: `Synchronized${name}` });
  pair = { raw: Raw as unknown as Ctor, synced: Synced as unknown as Ctor };
  classes.set(Base, pair);
  return pair;
}

function wrap(info: TypeInfo, block: Block, length: number, lock: Lock | null): AnyTypedArray {
  const { raw, synced } = classesFor(info.ctor as unknown as Ctor);
  const arr = new (lock ? synced : raw)(block.sab, block.offset, length);
  states.set(arr, { info, block, lock });
  return arr;
}

/** The elements of an initializer, checked and converted for the typecode. */
function initialElements(info: TypeInfo, init: unknown): (number | bigint)[] {
  if (info.kind === 'char' && typeof init === 'string') return [...Buffer.from(init, 'latin1')];
  if (typeof init === 'string' || init === null || typeof init !== 'object' || !(Symbol.iterator in (init as object))) {
    throw new TypeError(`Array: sizeOrInit must be a non-negative integer or a sequence, got ${init === null ? 'null' : typeof init}`);
  }
  return Array.from(init as Iterable<unknown>, (v, i) => toElement(info, v, `element ${i}`));
}

function create(typecode: string, sizeOrInit: unknown, lock: Lock | null): AnyTypedArray {
  const info = typeInfo(typecode);
  let length: number;
  let elements: (number | bigint)[] | null = null;
  if (typeof sizeOrInit === 'number') {
    if (!Number.isInteger(sizeOrInit) || sizeOrInit < 0) throw new RangeError(`Array: size must be a non-negative integer, got ${sizeOrInit}`);
    length = sizeOrInit;
  } else {
    elements = initialElements(info, sizeOrInit);
    length = elements.length;
  }
  const owner = {};
  const block = allocate(length * info.ctor.BYTES_PER_ELEMENT, owner);
  const arr = wrap(info, block, length, lock);
  Object.defineProperty(arr, arenaOwner, { value: owner }); // the block is recycled with the array
  if (elements) (arr as unknown as { set(a: ArrayLike<number | bigint>): void }).set(elements);
  return arr;
}

/** Python's Array(typecode, sizeOrInit, lock=True): a shared typed array with a lock, raw with { lock: false }. */
export function SharedArray<A extends AnyTypedArray = AnyTypedArray>(typecode: string, sizeOrInit: number | Iterable<unknown> | string, options: { lock?: LockOption } = {}): SynchronizedArray<A> | RawSharedArray<A> {
  return create(typecode, sizeOrInit, lockFor(options.lock)) as SynchronizedArray<A>;
}

/** Python's RawArray(typecode, sizeOrInit): a shared typed array without a lock. */
export function RawArray<A extends AnyTypedArray = AnyTypedArray>(typecode: string, sizeOrInit: number | Iterable<unknown> | string): RawSharedArray<A> {
  return create(typecode, sizeOrInit, null) as RawSharedArray<A>;
}

registerHandleType('multiproc.Array', (d: ArrayHandle) => wrap(typeInfo(d.typecode), Block.attach(d.block), d.length, d.lock));
