// The codec's fast path for plain data: undefined, null, booleans, numbers,
// strings, dense arrays and plain objects, nested. v8.serialize costs ~4 µs
// even for [1, 2] here (it builds a serializer object per call); this writes
// the same values into one reused buffer in a fraction of that, and reads
// them back without V8's deserializer.
//
// Anything else — a Map, a Date, a typed array, a class instance, an error, a
// shareable object, a function, a bigint, a '__proto__' key, an object met
// twice (a cycle or a shared reference, which structured clone preserves) —
// makes encodePlain() return null, and the caller uses the V8 path, which
// handles it (or reports it unsendable) as before. So a value decodes to
// exactly what structured clone would give, except that extra named
// properties of an array are not carried (V8 carries them).
//
// Format (after the codec's tag byte): one item, recursively
//   0 undefined  1 null  2 false  3 true
//   4 int32 (4 bytes)     5 float64 (8 bytes)
//   6 latin-1 string: length (varint), bytes
//   7 UTF-16 string: length in code units (varint), 2 bytes each (lone surrogates kept)
//   8 array: length (varint), items
//   9 object: key count (varint), then key (a string item) and value, per key
//  10 array of int32s: length (varint), pad length p (1 byte), p zero bytes, 4 bytes each
//  11 array of numbers: length (varint), p, p zero bytes, 8 bytes each (float64)
// (10 and 11 are how arrays of NUMBERS_AT_LEAST numbers travel: copied as
// blocks of memory instead of item by item.)
// Multi-byte numbers are little endian, as the rest of the codec assumes.

import { ownedCopy } from './small-bytes.js';

const enum P {
  Undefined = 0,
  Null = 1,
  False = 2,
  True = 3,
  Int32 = 4,
  Float64 = 5,
  Latin1 = 6,
  Utf16 = 7,
  Array = 8,
  Object = 9,
  Int32s = 10,
  Float64s = 11,
}

/** Arrays of at least this many numbers (and nothing else) go as a block. */
const NUMBERS_AT_LEAST = 8;
/** Scratch blocks for numeric arrays read from a message that lost its alignment. */
let i32Block = new Int32Array(1024);
let f64Block = new Float64Array(1024);

/** Nesting deeper than this goes to the V8 path (which has no recursion limit of ours). */
const MAX_DEPTH = 64;

let buf = Buffer.allocUnsafe(1 << 16);
/** The same memory as a plain Uint8Array, whose slice() copies (a Buffer's does not). */
let bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
/** The whole of buf's ArrayBuffer as int32s and float64s, for numeric blocks (making a view per block costs more than writing 100 numbers). */
let bufI32 = new Int32Array(buf.buffer, 0, buf.buffer.byteLength >> 2);
let bufF64 = new Float64Array(buf.buffer, 0, buf.buffer.byteLength >> 3);
let pos = 0;
const f64 = new Float64Array(1);
const f64Bytes = new Uint8Array(f64.buffer);
/**
 * Objects met in the value being encoded: a second meeting bails out. The
 * first SEEN_LINEAR are kept in an array and searched linearly (most values
 * hold a few objects; a Set's clear() allocates a new table every message),
 * the rest in a Set.
 */
const seenFew: object[] = [];
const seenMany = new Set<object>();
const SEEN_LINEAR = 16;

/** Records `v` as met; false if it was met before. */
function meet(v: object): boolean {
  const n = seenFew.length;
  for (let i = 0; i < n; i++) if (seenFew[i] === v) return false;
  if (n < SEEN_LINEAR) {
    seenFew.push(v);
    return true;
  }
  if (seenMany.has(v)) return false;
  seenMany.add(v);
  return true;
}

function forgetMet(): void {
  seenFew.length = 0;
  if (seenMany.size > 0) seenMany.clear();
}


function room(n: number): void {
  if (pos + n <= buf.length) return;
  const bigger = Buffer.allocUnsafe(Math.max(buf.length * 2, pos + n));
  buf.copy(bigger, 0, 0, pos);
  buf = bigger;
  bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
  bufI32 = new Int32Array(buf.buffer, 0, buf.buffer.byteLength >> 2);
  bufF64 = new Float64Array(buf.buffer, 0, buf.buffer.byteLength >> 3);
}

function varint(n: number): void {
  room(5);
  while (n >= 0x80) {
    buf[pos++] = (n & 0x7f) | 0x80;
    n >>>= 7;
  }
  buf[pos++] = n;
}

function writeString(s: string): void {
  const n = s.length;
  if (n <= 32) {
    let latin1 = true;
    for (let i = 0; i < n; i++) if (s.charCodeAt(i) > 0xff) latin1 = false;
    if (latin1) {
      room(6 + n);
      buf[pos++] = P.Latin1;
      varint(n);
      for (let i = 0; i < n; i++) buf[pos++] = s.charCodeAt(i);
      return;
    }
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the range is every latin-1 character
  } else if (!/[^\u0000-\u00ff]/.test(s)) {
    room(6 + n);
    buf[pos++] = P.Latin1;
    varint(n);
    pos += buf.write(s, pos, 'latin1');
    return;
  }
  room(6 + 2 * n);
  buf[pos++] = P.Utf16;
  varint(n);
  pos += buf.write(s, pos, 'utf16le');
}

/**
 * Writes v[start..end), numbers only, as a block; false (nothing written) if
 * it holds anything else. The block starts at a multiple of its element size
 * from the start of the message (a pad byte says how many zero bytes
 * precede it), so a reader maps it with a typed array instead of copying.
 * Int32s are written as they are checked, and rewritten as float64s from the
 * start when a number that is not one turns up (rare: most arrays are one or
 * the other all through).
 */
function writeNumbers(v: unknown[], start: number, end: number): boolean {
  const n = end - start;
  room(7 + 8 + n * 8);
  const header = pos;
  let at = blockStart(header, P.Int32s, n, 4) >> 2;
  let i = start;
  for (; i < end; i++) {
    const x = v[i];
    if (typeof x !== 'number') return notNumbers(header);
    if ((x | 0) !== x || (x === 0 && 1 / x < 0)) break; // not an int32 (or -0)
    bufI32[at++] = x;
  }
  if (i === end) {
    pos = (at << 2) - buf.byteOffset;
    return true;
  }
  at = blockStart(header, P.Float64s, n, 8) >> 3;
  for (i = start; i < end; i++) {
    const x = v[i];
    if (typeof x !== 'number') return notNumbers(header);
    bufF64[at++] = x;
  }
  pos = (at << 3) - buf.byteOffset;
  return true;
}

/** Takes back a block begun at `header`: the array is written item by item instead. */
function notNumbers(header: number): false {
  pos = header;
  return false;
}

/** Writes a block's header at `header` (kind, length, pad byte, padding); returns the block's byte offset in buf.buffer. */
function blockStart(header: number, kind: P, n: number, size: number): number {
  pos = header;
  buf[pos++] = kind;
  varint(n);
  const pad = (size - ((buf.byteOffset + pos + 1) % size)) % size;
  buf[pos++] = pad;
  for (let i = 0; i < pad; i++) buf[pos++] = 0;
  return buf.byteOffset + pos;
}

function readNumbers(kind: number): number[] {
  const start = at;
  const out = new Array<number>(readVarint()); // preallocated: filling is ~4x faster than push here
  at = start;
  readNumbersInto(kind, out, 0);
  return out;
}

/** Reads a block of numbers into out[offset...]; returns how many. */
function readNumbersInto(kind: number, out: unknown[], offset: number): number {
  const n = readVarint();
  at += 1 + input[at]; // the pad byte and the padding
  const ints = kind === P.Int32s;
  const size = ints ? 4 : 8;
  let block: Int32Array | Float64Array;
  if ((input.byteOffset + at) % size === 0) {
    block = ints ? new Int32Array(input.buffer, input.byteOffset + at, n) : new Float64Array(input.buffer, input.byteOffset + at, n);
  } else {
    // The message was moved off its alignment (a subarray at an odd offset): copy the block first.
    if (ints && i32Block.length < n) i32Block = new Int32Array(n);
    if (!ints && f64Block.length < n) f64Block = new Float64Array(n);
    block = ints ? i32Block : f64Block;
    new Uint8Array(block.buffer, 0, n * size).set(input.subarray(at, at + n * size));
  }
  at += n * size;
  for (let i = 0; i < n; i++) out[offset + i] = block[i];
  return n;
}

/** Writes v[start..end) as an array. */
function writeArray(v: unknown[], start: number, end: number, depth: number): boolean {
  if (end - start >= NUMBERS_AT_LEAST && writeNumbers(v, start, end)) return true;
  room(1);
  buf[pos++] = P.Array;
  varint(end - start);
  for (let i = start; i < end; i++) {
    const item = v[i];
    if (item === undefined && !(i in v)) return false; // a hole: V8 keeps it
    if (!writeValue(item, depth + 1)) return false;
  }
  return true;
}

function writeValue(v: unknown, depth: number): boolean {
  switch (typeof v) {
    case 'number':
      room(9);
      if ((v | 0) === v && (v !== 0 || 1 / v > 0)) {
        buf[pos++] = P.Int32;
        buf[pos++] = v;
        buf[pos++] = v >> 8;
        buf[pos++] = v >> 16;
        buf[pos++] = v >> 24;
      } else {
        buf[pos++] = P.Float64;
        f64[0] = v;
        for (let i = 0; i < 8; i++) buf[pos++] = f64Bytes[i];
      }
      return true;
    case 'string':
      writeString(v);
      return true;
    case 'boolean':
      room(1);
      buf[pos++] = v ? P.True : P.False;
      return true;
    case 'undefined':
      room(1);
      buf[pos++] = P.Undefined;
      return true;
    case 'object':
      if (v === null) {
        room(1);
        buf[pos++] = P.Null;
        return true;
      }
      if (depth >= MAX_DEPTH || !meet(v)) return false;
      if (Array.isArray(v)) {
        return writeArray(v, 0, v.length, depth);
      }
      {
        const proto = Object.getPrototypeOf(v);
        if (proto !== Object.prototype && proto !== null) return false;
        const keys = Object.keys(v);
        room(1);
        buf[pos++] = P.Object;
        varint(keys.length);
        for (const key of keys) {
          if (key === '__proto__') return false;
          writeString(key);
          if (!writeValue((v as Record<string, unknown>)[key], depth + 1)) return false;
        }
        return true;
      }
    default:
      return false; // bigint, symbol, function: the V8 path decides
  }
}

/**
 * The value as [tag, ...plain bytes], or null when it is not plain data (see
 * the top). With `scratch`, the bytes are a view of the encoder's buffer,
 * valid until the next encode: for a caller that copies them away at once.
 */
export function encodePlain(value: unknown, tag: number, reserve = 0, scratch = false): Uint8Array | null {
  begin(tag, reserve);
  let ok = false;
  try {
    ok = writeValue(value, 0);
  } finally {
    forgetMet();
  }
  if (!ok) return null;
  return scratch ? bytes.subarray(0, pos) : ownedCopy(bytes.subarray(0, pos));
}

/** items.slice(start, end) encoded as encodePlain would, without making the slice. */
export function encodePlainSlice(items: unknown[], start: number, end: number, tag: number, reserve = 0, scratch = false): Uint8Array | null {
  begin(tag, reserve);
  let ok = false;
  try {
    meet(items);
    ok = writeArray(items, start, end, 0);
  } finally {
    forgetMet();
  }
  if (!ok) return null;
  return scratch ? bytes.subarray(0, pos) : ownedCopy(bytes.subarray(0, pos));
}

/**
 * [tag, ...body] as a view of the encoder's buffer after `reserve` bytes,
 * valid until the next encode (encodePlain's `scratch`): raw bytes for a
 * caller that copies them away at once, with no array of their own to make.
 */
export function scratchMessage(tag: number, reserve: number, body: Uint8Array): Uint8Array {
  begin(tag, reserve);
  room(body.length);
  bytes.set(body, pos);
  pos += body.length;
  return bytes.subarray(0, pos);
}

/** Starts a message: `reserve` bytes left for the caller (a header), then the tag. */
function begin(tag: number, reserve: number): void {
  pos = 0;
  room(reserve + 1);
  pos = reserve;
  buf[pos++] = tag;
}

// ---- decoding ----------------------------------------------------------------

let input: Uint8Array = new Uint8Array(0);
let at = 0;

function readVarint(): number {
  let n = 0;
  let shift = 0;
  for (;;) {
    const b = input[at++];
    n += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) return n;
    shift += 7;
  }
}

function readString(kind: number): string {
  const n = readVarint();
  if (kind === P.Latin1) {
    if (n <= 32) {
      let s = '';
      for (let i = 0; i < n; i++) s += String.fromCharCode(input[at + i]);
      at += n;
      return s;
    }
    const s = Buffer.from(input.buffer, input.byteOffset + at, n).toString('latin1');
    at += n;
    return s;
  }
  const s = Buffer.from(input.buffer, input.byteOffset + at, 2 * n).toString('utf16le');
  at += 2 * n;
  return s;
}

/**
 * Recently decoded object keys, direct-mapped by a hash of their bytes.
 * Objects of one shape arrive with the same keys message after message:
 * returning the string made the first time skips building it again, and
 * V8 stores a property faster under a key it has already internalized.
 */
const keyCache: string[] = new Array(256).fill('');

/** An object key (a string item): short latin-1 keys come from keyCache when they were seen before. */
function readKey(): string {
  const kind = input[at++];
  if (kind !== P.Latin1 || input[at] > 32) return readString(kind);
  const n = input[at++]; // (a varint below 0x80: one byte)
  const slot = (n * 31 + input[at] * 7 + input[at + n - 1] * 3 + input[at + (n >> 1)]) & 255;
  const cached = keyCache[slot];
  if (cached.length === n) {
    let same = true;
    for (let i = 0; i < n; i++) {
      if (cached.charCodeAt(i) !== input[at + i]) {
        same = false;
        break;
      }
    }
    if (same) {
      at += n;
      return cached;
    }
  }
  at--; // back to the length
  const key = readString(kind);
  keyCache[slot] = key;
  return key;
}

function readValue(): unknown {
  const kind = input[at++];
  switch (kind) {
    case P.Undefined:
      return undefined;
    case P.Null:
      return null;
    case P.False:
      return false;
    case P.True:
      return true;
    case P.Int32: {
      const v = input[at] | (input[at + 1] << 8) | (input[at + 2] << 16) | (input[at + 3] << 24);
      at += 4;
      return v;
    }
    case P.Float64:
      for (let i = 0; i < 8; i++) f64Bytes[i] = input[at + i];
      at += 8;
      return f64[0];
    case P.Latin1:
    case P.Utf16:
      return readString(kind);
    case P.Array: {
      const n = readVarint();
      const out = new Array(n);
      for (let i = 0; i < n; i++) out[i] = readValue();
      return out;
    }
    case P.Int32s:
    case P.Float64s:
      return readNumbers(kind);
    case P.Object: {
      const n = readVarint();
      const out: Record<string, unknown> = {};
      for (let i = 0; i < n; i++) {
        const key = readKey();
        out[key] = readValue();
      }
      return out;
    }
    default:
      throw new TypeError(`cannot decode a plain value of kind ${kind}: the message is corrupt`);
  }
}

/**
 * Writes the items of an encoded array into out[offset...] and returns how
 * many; -1 (nothing written) when the bytes do not hold a plain array.
 */
export function decodePlainArrayInto(bytes: Uint8Array, out: unknown[], offset: number, start = 0): number {
  const previous = input;
  const previousAt = at;
  input = bytes;
  at = start + 1;
  try {
    const kind = input[at++];
    if (kind === P.Int32s || kind === P.Float64s) return readNumbersInto(kind, out, offset);
    if (kind !== P.Array) return -1;
    const n = readVarint();
    for (let i = 0; i < n; i++) out[offset + i] = readValue();
    return n;
  } finally {
    input = previous;
    at = previousAt;
  }
}

/** Decodes bytes written by encodePlain, whose tag byte is at `start`. */
export function decodePlain(bytes: Uint8Array, start = 0): unknown {
  const previous = input;
  const previousAt = at;
  input = bytes;
  at = start + 1;
  try {
    return readValue();
  } finally {
    input = previous;
    at = previousAt;
  }
}
