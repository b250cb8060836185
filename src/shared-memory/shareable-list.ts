// ShareableList: a fixed-length list in a SharedMemory segment, with the byte
// layout of Python 3.11's multiprocessing.shared_memory.ShareableList, so
// Python can attach to ours and we to Python's. The layout (all little-endian):
//   8 bytes        N, the number of items (int64)
//   (N + 1) * 8    the offset of each item from the data area's start, and its end
//   K bytes        the data area: each item packed with its struct format
//   N * 8          each item's struct format, as a NUL-padded ASCII string
//   N bytes        each item's "back transform" code: 0 int/float/bool, 1 str, 2 bytes, 3 None
// Formats: 'q' int64, 'd' double, 'xxxxxxx?' bool (in byte 7), 'xxxxxx?x' None,
// '<n>s' str (utf-8) or bytes, NUL-padded to n, a multiple of 8; trailing NULs
// are stripped on reading, as Python does.
import { registerHandleType, shareable, type HandleData, type Shareable } from '../codec/handles.js';
import { SharedMemory } from './shared-memory.js';

/** What a ShareableList holds: Python's int (number or bigint), float, bool, str, bytes, None. */
export type ShareableItem = number | bigint | boolean | string | Uint8Array | null;

export interface ShareableListOptions {
  /** Attach to (sequence null) or create (sequence given) the segment of this name. */
  name?: string;
  /** (+) As SharedMemory's: false keeps a created segment after this program ends. */
  track?: boolean;
}

const inspectCustom = Symbol.for('nodejs.util.inspect.custom');
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const CODE_VALUE = 0;
const CODE_STR = 1;
const CODE_BYTES = 2;
const CODE_NONE = 3;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

interface Packed {
  format: string;
  code: number;
  /** For str/bytes: the encoded bytes. */
  bytes?: Uint8Array;
  value?: number | bigint | boolean;
}

/** How Python would pack `value` (its type decides the format). */
function pack(value: ShareableItem): Packed {
  switch (typeof value) {
    case 'boolean':
      return { format: 'xxxxxxx?', code: CODE_VALUE, value };
    case 'bigint':
      if (value < INT64_MIN || value > INT64_MAX) throw new RangeError(`${value} does not fit in a 64-bit integer ('q')`);
      return { format: 'q', code: CODE_VALUE, value };
    case 'number':
      // Python int for integral numbers (-0 stays a float, to keep its sign).
      if (Number.isSafeInteger(value) && !Object.is(value, -0)) return { format: 'q', code: CODE_VALUE, value };
      return { format: 'd', code: CODE_VALUE, value };
    case 'string':
      return { format: 's', code: CODE_STR, bytes: encoder.encode(value) };
    case 'object':
      if (value === null) return { format: 'xxxxxx?x', code: CODE_NONE };
      if (ArrayBuffer.isView(value)) {
        return { format: 's', code: CODE_BYTES, bytes: new Uint8Array(value.buffer, value.byteOffset, value.byteLength) };
      }
  }
  const what = value === undefined ? 'undefined' : typeof value === 'object' ? (value as object).constructor?.name ?? 'object' : typeof value;
  throw new TypeError(`a ShareableList holds numbers, bigints, booleans, strings, bytes (Uint8Array) and null, not ${what}`);
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Python's == between list items. */
function itemsEqual(a: unknown, b: unknown): boolean {
  if (a instanceof Uint8Array && b instanceof Uint8Array) return bytesEqual(a, b);
  // biome-ignore lint/suspicious/noDoubleEquals: a bigint equals a number of the same value (1n == 1), as in Python
  if ((typeof a === 'bigint' || typeof a === 'number') && (typeof b === 'bigint' || typeof b === 'number')) return a == b;
  return a === b;
}

/** A canonical array index ('0', '12', '-1'), or undefined. */
function indexKey(key: string | symbol): number | undefined {
  return typeof key === 'string' && /^-?(0|[1-9]\d*)$/.test(key) ? Number(key) : undefined;
}

export class ShareableList implements Shareable, Iterable<ShareableItem> {
  /** The segment that holds the list. */
  readonly shm: SharedMemory;
  // Plain (not #private) fields: methods run with the Proxy as `this`.
  private readonly listLen: number;
  /** Item offsets from the data area's start, N + 1 of them (the last: the data area's end). */
  private readonly offsets: number[];

  /** Items by index: `sl[0]`, `sl[0] = 5`; negative indices count from the end. */
  [index: number]: ShareableItem;

  /**
   * Creates a list holding `sequence` (in a new segment, named `options.name`
   * if given), or with a null sequence and a name, attaches to an existing one.
   */
  constructor(sequence: Iterable<ShareableItem> | null = null, options: ShareableListOptions = {}) {
    const { name, track } = options ?? {};
    if (name === undefined || sequence !== null) {
      const items = sequence === null ? [] : Array.from(sequence);
      const packed = items.map(pack);
      this.offsets = [0];
      let offset = 0;
      for (const p of packed) {
        if (p.bytes) {
          // Python allocates 8 * (len // 8 + 1) with len in characters; counting utf-8 bytes
          // instead gives the same for ASCII and never truncates other text.
          const slot = 8 * (Math.floor(p.bytes.length / 8) + 1);
          p.format = `${slot}s`;
          offset += slot;
        } else offset += 8;
        this.offsets.push(offset);
      }
      const n = items.length;
      this.listLen = n;
      const size = 8 + 8 * (n + 1) + offset + 8 * n + n; // struct.calcsize of the whole layout
      this.shm = new SharedMemory({ name, create: true, size, track });
      const view = this.view();
      view.setBigInt64(0, BigInt(n), true);
      this.offsets.forEach((o, i) => {
        view.setBigInt64(8 + 8 * i, BigInt(o), true);
      });
      packed.forEach((p, i) => {
        this.store(i, p);
      });
    } else {
      this.shm = new SharedMemory({ name });
      const view = this.view();
      this.listLen = Number(view.getBigInt64(0, true));
      this.offsets = Array.from({ length: this.listLen + 1 }, (_, i) => Number(view.getBigInt64(8 + 8 * i, true)));
    }
    // Index access goes through a Proxy; everything else reaches the object itself.
    // biome-ignore lint/correctness/noConstructorReturn: list[i] needs a Proxy around the instance
    return new Proxy(this, {
      get(target, key, receiver) {
        const i = indexKey(key);
        return i === undefined ? Reflect.get(target, key, receiver) : target.at(i);
      },
      set(target, key, value, receiver) {
        const i = indexKey(key);
        if (i === undefined) return Reflect.set(target, key, value, receiver);
        target.set(i, value);
        return true;
      },
      has(target, key) {
        const i = indexKey(key);
        return i === undefined ? Reflect.has(target, key) : i >= -target.listLen && i < target.listLen;
      },
    });
  }

  // ---- layout ----------------------------------------------------------------

  private view(): DataView {
    const buf = this.shm.buf; // throws once the segment is closed
    return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  private get dataStart(): number {
    return (this.listLen + 2) * 8;
  }
  private get formatsStart(): number {
    return this.dataStart + this.offsets[this.listLen]!;
  }
  private get codesStart(): number {
    return this.formatsStart + this.listLen * 8;
  }

  /** `position` made non-negative, or -1 when out of range. */
  private position(i: number): number {
    const p = i < 0 ? i + this.listLen : i;
    return Number.isInteger(p) && p >= 0 && p < this.listLen ? p : -1;
  }

  private formatAt(p: number): string {
    const bytes = this.shm.buf.subarray(this.formatsStart + 8 * p, this.formatsStart + 8 * p + 8);
    const end = bytes.indexOf(0);
    return decoder.decode(end < 0 ? bytes : bytes.subarray(0, end));
  }

  /** Writes item `p`'s format, code and value. */
  private store(p: number, packed: Packed): void {
    const view = this.view();
    const buf = this.shm.buf;
    const fmt = this.formatsStart + 8 * p;
    buf.fill(0, fmt, fmt + 8);
    buf.set(encoder.encode(packed.format), fmt);
    view.setInt8(this.codesStart + p, packed.code);
    const at = this.dataStart + this.offsets[p]!;
    if (packed.bytes) {
      buf.fill(0, at, at + Number.parseInt(packed.format, 10)); // struct's 's' pads with NULs
      buf.set(packed.bytes, at);
      return;
    }
    buf.fill(0, at, at + 8); // the pad bytes ('x') of the bool and None formats are NULs
    if (packed.format === 'q') view.setBigInt64(at, BigInt(packed.value as number | bigint), true);
    else if (packed.format === 'd') view.setFloat64(at, packed.value as number, true);
    else if (packed.format === 'xxxxxxx?') view.setUint8(at + 7, packed.value ? 1 : 0);
  }

  // ---- list API ----------------------------------------------------------------

  /** The item at `index` (negative: from the end), or undefined out of range, as Array's at(). */
  at(index: number): ShareableItem | undefined {
    const p = this.position(index);
    if (p < 0) return undefined;
    const format = this.formatAt(p);
    const view = this.view();
    const at = this.dataStart + this.offsets[p]!;
    const code = view.getInt8(this.codesStart + p);
    if (code === CODE_NONE) return null;
    if (format.endsWith('s')) {
      let bytes = this.shm.buf.subarray(at, at + Number.parseInt(format, 10));
      let end = bytes.length;
      while (end > 0 && bytes[end - 1] === 0) end--; // rstrip(b'\x00')
      bytes = bytes.subarray(0, end);
      return code === CODE_STR ? decoder.decode(bytes) : Buffer.from(bytes);
    }
    switch (format) {
      case 'q': {
        const v = view.getBigInt64(at, true);
        return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
      }
      case 'd':
        return view.getFloat64(at, true);
      case 'xxxxxxx?':
        return view.getUint8(at + 7) !== 0;
      case 'xxxxxx?x':
        return view.getUint8(at + 6) !== 0;
    }
    throw new TypeError(`ShareableList item ${p} has the unsupported struct format '${format}'`);
  }

  /** Sets the item at `index`; str/bytes must fit the slot allocated for the item. RangeError out of range. */
  set(index: number, value: ShareableItem): void {
    const p = this.position(index);
    if (p < 0) throw new RangeError('assignment index out of range');
    const packed = pack(value);
    if (packed.bytes) {
      const allocated = this.offsets[p + 1]! - this.offsets[p]!;
      if (packed.bytes.length > allocated) throw new RangeError('bytes/str item exceeds available storage');
      const current = this.formatAt(p);
      packed.format = current.endsWith('s') ? current : `${allocated}s`;
    }
    this.store(p, packed);
  }

  /** The number of items. */
  get length(): number {
    return Number(this.view().getBigInt64(0, true));
  }

  /** The struct format of all items, as Python's `format`. */
  get format(): string {
    return Array.from({ length: this.listLen }, (_, p) => this.formatAt(p)).join('');
  }

  /** How many items equal `value` (bytes by content, 1 == 1n). */
  count(value: ShareableItem): number {
    let n = 0;
    for (const item of this) if (itemsEqual(item, value)) n++;
    return n;
  }

  /** The first index of `value`; RangeError (Python's ValueError) if absent. */
  index(value: ShareableItem): number {
    let p = 0;
    for (const item of this) {
      if (itemsEqual(item, value)) return p;
      p++;
    }
    throw new RangeError(`${String(value)} is not in this ShareableList`);
  }

  *[Symbol.iterator](): IterableIterator<ShareableItem> {
    for (let p = 0; p < this.listLen; p++) yield this.at(p) as ShareableItem;
  }

  /** Crosses to children by name; the receiver attaches. */
  [shareable](): HandleData {
    return { type: 'multiproc.ShareableList', data: { name: this.shm.name } };
  }

  [inspectCustom](_depth: number, options: object, inspect: (v: unknown, o: object) => string): string {
    return `ShareableList(${inspect([...this], options)}, name=${JSON.stringify(this.shm.name)})`;
  }
}

registerHandleType('multiproc.ShareableList', (d: { name: string }) => new ShareableList(null, { name: d.name }));
