// Array and RawArray: Python's multiprocessing.Array/RawArray. The result IS
// a typed array over shared memory — an instance of a subclass of the
// element type's typed array (Int32Array for 'i', BigInt64Array for 'q',
// Uint8Array for 'c', ...) — so indexing, length, iteration, set(), Atomics
// and every typed-array method run at native speed (measured: the same
// ns/element as a plain Float64Array). The subclasses' Symbol.species is the
// base class, so slice(), map() and filter() return plain copies, and
// subarray() a plain view.
//
// A synchronized array (the default) also has getLock(), getObj(), acquire(),
// acquireSync(), release(), withLock() and lockSync(). Element access is not
// locked — unlike Python, where each arr[i] takes the lock — as a typed
// array's is not; an aligned element access is a single instruction, so it
// is never torn. Hold getLock() around read-modify-writes (arr[i] += 1), or
// use Atomics on integer arrays.
//
// A 'c' array is a Uint8Array with Python's char-array extras: `.value` (the
// bytes up to the first NUL, as a Buffer) and `.raw` (all of them).
import { inspect } from 'node:util';
import { registerHandleType, shareable, type HandleData } from '../codec/handles.js';
import { allocate, Block, type BlockHandle } from '../shm/arena.js';
import type { Lock } from '../sync/lock.js';
import { lockFor, type LockOption } from './value.js';
import { toElement, typeInfo, type AnyTypedArray, type ArrayOf, type TypeInfo } from './typecodes.js';
import { forwardLock, type LockForwarding } from '../sync/lock-forwarding.js';

/** Python's extras on a 'c' array. */
export interface CharArrayExtras {
  /** The bytes up to the first NUL (a copy); setting writes the bytes and a NUL after them if there is room. */
  get value(): Buffer;
  set value(bytes: Uint8Array | string);
  /** All the bytes (a copy); setting writes the bytes at the start. */
  get raw(): Buffer;
  set raw(bytes: Uint8Array | string);
}

/** A shared typed array (RawArray, or Array with { lock: false }). */
export type RawSharedArray<A extends AnyTypedArray = AnyTypedArray> = A & {
  /** The canonical one-letter typecode. */
  readonly typecode: string;
};

/** A shared typed array with a lock (Array, the default). */
export type SynchronizedArray<A extends AnyTypedArray = AnyTypedArray> = RawSharedArray<A> & {
  getLock(): Lock;
  /** The raw array (no lock) on the same memory; the same object on every call. */
  getObj(): RawSharedArray<A>;
} & LockForwarding;

type Extras<TC extends string> = TC extends 'c' | 'c_char' ? CharArrayExtras : unknown;

/**
 * Per array: its typecode, its memory and lock. `owner` is the object the
 * arena recycles a small block with (shm/arena.ts): the array and its
 * getObj() both hold it, so the block is not reused while either lives.
 */
interface State {
  info: TypeInfo;
  block: Block;
  owner: object;
  lock: Lock | null;
  obj: AnyTypedArray | null;
}

interface ArrayHandle {
  typecode: string;
  block: BlockHandle;
  length: number;
  lock: Lock | null;
}

/** The State of an array, under a symbol rather than a private field: Synced reads it too. */
const STATE = Symbol('state');

type Ctor = new (buffer: SharedArrayBuffer, byteOffset: number, length: number, state: State) => AnyTypedArray;
const classes = new Map<string, { raw: Ctor; synced: Ctor }>();

/** Bytes of a 'c' array as a Buffer copy, for `value` and `raw`. */
function bytesOf(arr: Uint8Array, end: number): Buffer {
  return Buffer.from(arr.subarray(0, end));
}

function toBytes(v: unknown, what: string): Uint8Array {
  if (v instanceof Uint8Array) return v;
  if (typeof v === 'string' && /^[\0-\xff]*$/.test(v)) return Buffer.from(v, 'latin1');
  throw new TypeError(`${what} must be bytes (a Uint8Array/Buffer or a string of characters 0-255)`);
}

/**
 * The two subclasses (raw, synchronized) of a typed array class; char arrays
 * get their own pair with the extras. Made once per kind, so every array of
 * one typecode shares a class (and V8 a map): element access stays monomorphic.
 */
function classesFor(info: TypeInfo): { raw: Ctor; synced: Ctor } {
  const Base = info.ctor as unknown as new (b: SharedArrayBuffer, o: number, n: number) => Uint8Array;
  const key = info.kind === 'char' ? 'char' : Base.name;
  let pair = classes.get(key);
  if (pair) return pair;
  // Typed as Uint8Array: the methods below are common to every typed array.
  class Raw extends Base {
    static get [Symbol.species]() {
      return Base;
    }
    readonly [STATE]: State;
    constructor(buffer: SharedArrayBuffer, byteOffset: number, length: number, state: State) {
      super(buffer, byteOffset, length);
      this[STATE] = state;
    }
    get typecode(): string {
      return this[STATE].info.code;
    }
    [shareable](): HandleData {
      const st = this[STATE];
      const data: ArrayHandle = { typecode: st.info.code, block: st.block.toHandle('an Array'), length: this.length, lock: st.lock };
      return { type: 'multiproc.Array', data };
    }
    [inspect.custom](_depth: number, options: object): string {
      // A plain copy, shown without its own class name: SynchronizedInt32Array('i', [ 1, 2, 3 ]).
      return `${this.constructor.name}('${this[STATE].info.code}', ${inspect(Base.prototype.slice.call(this), options).replace(/^\w+\(\d+\) /, '')})`;
    }
  }
  class Synced extends Raw {
    getLock(): Lock {
      return this[STATE].lock!;
    }
    getObj(): AnyTypedArray {
      const st = this[STATE];
      return (st.obj ??= make(st.info, st.block, st.owner, this.length, null));
    }
  }
  forwardLock(Synced, (a) => a.getLock()); // acquire(), release(), withLock(), lockSync(), lock()
  if (info.kind === 'char') {
    for (const C of [Raw, Synced]) {
      Object.defineProperties(C.prototype, {
        value: {
          get(this: Uint8Array) {
            const nul = this.indexOf(0);
            return bytesOf(this, nul < 0 ? this.length : nul);
          },
          set(this: Uint8Array, v: unknown) {
            const bytes = toBytes(v, 'value');
            if (bytes.length > this.length) throw new RangeError('byte string too long');
            this.set(bytes);
            if (bytes.length < this.length) this[bytes.length] = 0;
          },
        },
        raw: {
          get(this: Uint8Array) {
            return bytesOf(this, this.length);
          },
          set(this: Uint8Array, v: unknown) {
            const bytes = toBytes(v, 'raw');
            if (bytes.length > this.length) throw new RangeError('byte string too long');
            this.set(bytes);
          },
        },
      });
    }
  }
  const prefix = info.kind === 'char' ? 'Char' : '';
  Object.defineProperty(Raw, 'name', { value: `Shared${prefix}${Base.name}` });
  Object.defineProperty(Synced, 'name', { value: `Synchronized${prefix}${Base.name}` });
  pair = { raw: Raw as unknown as Ctor, synced: Synced as unknown as Ctor };
  classes.set(key, pair);
  return pair;
}

function make(info: TypeInfo, block: Block, owner: object, length: number, lock: Lock | null): AnyTypedArray {
  const { raw, synced } = classesFor(info);
  return new (lock ? synced : raw)(block.sab, block.offset, length, { info, block, owner, lock, obj: null });
}

/** The elements of an initializer, checked and converted for the typecode. */
function initialElements(info: TypeInfo, init: unknown): ArrayLike<number | bigint> {
  if (info.kind === 'char' && (typeof init === 'string' || init instanceof Uint8Array)) return toBytes(init, 'Array: the initializer');
  const sequence = typeof init === 'object' && init !== null && (Symbol.iterator in init || typeof (init as ArrayLike<unknown>).length === 'number');
  if (!sequence) {
    throw new TypeError(`Array: sizeOrInit must be a non-negative integer or a sequence, got ${init === null ? 'null' : typeof init}`);
  }
  // A typed array of the same kind needs no per-element check.
  if (ArrayBuffer.isView(init) && init instanceof info.ctor && info.kind !== 'bool') return init as unknown as ArrayLike<number>;
  return Array.from(init as Iterable<unknown> | ArrayLike<unknown>, (v, i) => toElement(info, v, `Array: element ${i}`));
}

function lengthOf(size: number | bigint): number {
  const n = Number(size);
  if (!Number.isInteger(n)) throw new TypeError(`Array: size must be an integer, got ${size}`);
  if (n < 0) throw new RangeError(`Array length must be >= 0, not ${size}`);
  return n;
}

function create(typecode: unknown, sizeOrInit: unknown, lock: Lock | null): AnyTypedArray {
  const info = typeInfo(typecode);
  const elements = typeof sizeOrInit === 'number' || typeof sizeOrInit === 'bigint' ? null : initialElements(info, sizeOrInit);
  const length = elements ? elements.length : lengthOf(sizeOrInit as number);
  const owner = {};
  const block = allocate(length * info.ctor.BYTES_PER_ELEMENT, owner);
  const arr = make(info, block, owner, length, lock);
  if (elements) (arr as Uint8Array).set(elements as ArrayLike<number>);
  return arr;
}

type ArrayOptions = { lock?: LockOption };
type SizeOrInit = number | bigint | Iterable<unknown> | ArrayLike<unknown> | string;

/**
 * Python's Array(typecode, sizeOrInit, lock = true): a typed array over shared
 * memory with a lock (a new RLock by default, or the Lock/RLock given), or raw
 * with { lock: false }. `sizeOrInit` is a length (zero-filled) or the
 * elements (any iterable; for 'c' also a string or bytes).
 */
export function SharedArray<TC extends string>(typecode: TC, sizeOrInit: SizeOrInit, options?: { lock?: true | Lock }): SynchronizedArray<ArrayOf<TC>> & Extras<TC>;
export function SharedArray<TC extends string>(typecode: TC, sizeOrInit: SizeOrInit, options: { lock: false }): RawSharedArray<ArrayOf<TC>> & Extras<TC>;
export function SharedArray<TC extends string>(typecode: TC, sizeOrInit: SizeOrInit, options?: ArrayOptions): (SynchronizedArray<ArrayOf<TC>> | RawSharedArray<ArrayOf<TC>>) & Extras<TC>;
export function SharedArray(typecode: string, sizeOrInit: SizeOrInit, options: ArrayOptions = {}): AnyTypedArray {
  if (typeof options !== 'object' || options === null) throw new TypeError('Array: options must be an object { lock }');
  typeInfo(typecode); // a bad typecode fails before a lock is made
  return create(typecode, sizeOrInit, lockFor(options.lock));
}

/** Python's RawArray(typecode, sizeOrInit): a typed array over shared memory, without a lock. */
export function RawArray<TC extends string>(typecode: TC, sizeOrInit: SizeOrInit): RawSharedArray<ArrayOf<TC>> & Extras<TC> {
  return create(typecode, sizeOrInit, null) as RawSharedArray<ArrayOf<TC>> & Extras<TC>;
}

// The receiving side: a new array of the same class on the same memory
// (never recycled: the block was marked shared when the handle was made).
registerHandleType('multiproc.Array', (d: ArrayHandle) => make(typeInfo(d.typecode), Block.attach(d.block), {}, d.length, d.lock));
