// The one serialization seam. Everything sent between processes — Process
// args, queue items, pipe messages, manager calls — is encoded here.
//
// Wire format: one tag byte, then the payload.
//   undefined / null / false / true: the tag alone
//   number: float64 (little endian); string: UTF-8
//   V8 (0x06): v8.serialize() output of a value that needs no rewriting
//   MARKED (0x07): v8.serialize() output of a rewritten copy in which shareable
//     objects and errors were replaced by marker objects; decode() revives them.
//   BYTES (0x08): a plain Uint8Array or Buffer, its bytes as they are (arrives
//     as a Uint8Array, as structured clone delivers a Buffer).
//   PLAIN (0x09): arrays and plain objects of primitives, in plain.ts's
//     compact form (several times faster than V8's serializer for them).
//
// Encoding first scans the value: an unsendable part (a function, a symbol, a
// host object such as a WeakMap or a Promise) is reported with a TypeError
// that names where it was, before anything is sent, so a channel is never
// left half-written. What sending its shareables did is undone if a message
// still fails to encode (undo.ts).
import v8 from 'node:v8';
import { types } from 'node:util';
import { isShareable, rehydrate, shareable, type HandleData } from './handles.js';
import { errorClasses } from '../errors.js';
import { decodePlain, decodePlainArrayInto, encodePlain, encodePlainSlice, scratchMessage } from './plain.js';
import { atomically } from './undo.js';
import { ownedCopy, smallBytes } from './small-bytes.js';

const enum Tag {
  Undefined = 0,
  Null = 1,
  False = 2,
  True = 3,
  Number = 4,
  String = 5,
  V8 = 6,
  Marked = 7,
  Bytes = 8,
  Plain = 9,
}

/** Key of marker objects; a NUL-prefixed key no user object has. */
const MARK = '\u0000multiproc';
type Marker =
  | { [MARK]: 'handle'; handle: HandleData }
  | { [MARK]: 'error'; name: string; message: string; stack?: string; props: Record<string, unknown> };

const encoder = new TextEncoder();
const decoder = new TextDecoder();
// Scratch space for numbers: no DataView or allocation per message. (Little
// endian on every platform Node runs multiproc on: x86-64, arm64.)
const scratch = new Float64Array(1);
const scratchBytes = new Uint8Array(scratch.buffer);
const tagOnly = [Tag.Undefined, Tag.Null, Tag.False, Tag.True].map((t) => Uint8Array.of(t));
/** Scratch space for encoding strings of up to ~1.3 k characters (UTF-8 takes at most 3 bytes per UTF-16 unit), the tag in front. */
const stringScratch = new Uint8Array(4096);
stringScratch[0] = Tag.String;
const stringScratchBody = stringScratch.subarray(1);

// SharedArrayBuffers cannot be serialized into bytes. Between threads of one
// process a transport may carry them beside the bytes (postMessage shares
// them): shareable objects backed by plain SABs (the addon-less path) put them
// in the transfer list while encoding and take them back while decoding.
let transferList: SharedArrayBuffer[] | null = null;
let receivedList: readonly SharedArrayBuffer[] | null = null;

/** During encode(): adds `sab` to the transport's list and returns its index; throws where none can be carried. */
export function carrySharedBuffer(sab: SharedArrayBuffer, what: string): number {
  if (!transferList) {
    throw new TypeError(`${what} lives in plain (addon-less) shared memory, which can only be passed to a thread child as a Process argument; build the native addon to share it with processes or through channels`);
  }
  transferList.push(sab);
  return transferList.length - 1;
}

/** During decode(): the SharedArrayBuffer carried at `index`. */
export function carriedSharedBuffer(index: number): SharedArrayBuffer {
  const sab = receivedList?.[index];
  if (!sab) throw new TypeError('a shared buffer that was sent with this message did not arrive');
  return sab;
}

/**
 * Encodes `value`; `what` names it in error messages (e.g. 'args', 'item').
 * `sabs`, when given, receives SharedArrayBuffers the transport must carry beside the bytes.
 */
export function encode(value: unknown, what = 'value', sabs?: SharedArrayBuffer[]): Uint8Array {
  switch (typeof value) {
    case 'undefined':
      return tagOnly[Tag.Undefined];
    case 'boolean':
      return tagOnly[value ? Tag.True : Tag.False];
    case 'number': {
      const out = new Uint8Array(9);
      out[0] = Tag.Number;
      scratch[0] = value;
      out.set(scratchBytes, 1);
      return out;
    }
    case 'string':
      return encodeString(value);
    case 'object':
      if (value === null) return tagOnly[Tag.Null];
      if (isPlainBytes(value)) {
        const out = smallBytes(1 + value.length);
        out[0] = Tag.Bytes;
        out.set(value, 1);
        return out;
      }
      {
        const plain = encodePlain(value, Tag.Plain);
        if (plain) return plain;
      }
      break;
  }
  if (!scan(value, what, new Set())) return tagged(Tag.V8, serialize(value, value, what));
  // Rewriting calls the shareables' [shareable](): if rewriting or
  // serializing then fails, atomically() undoes the steps they took, and the
  // buffers they carried are dropped.
  const outerList = transferList;
  const carried = sabs?.length ?? 0;
  transferList = sabs ?? null;
  try {
    return tagged(Tag.Marked, atomically(() => serialize(rewrite(value, new Map()), value, what)));
  } catch (err) {
    if (sabs) sabs.length = carried;
    throw err;
  } finally {
    transferList = outerList;
  }
}

/** Set while encodePortable() or decodePortable() runs: shareables and their handles are refused. */
let portable = false;

/**
 * encode() for values that leave this machine (multiproc/redis): a shareable
 * object — a lock, a Value, shared memory, a local Queue or Pipe, a proxy —
 * lives in this machine's memory and is refused with a TypeError that says
 * where it was; nothing is sent.
 */
export function encodePortable(value: unknown, what = 'value'): Uint8Array {
  return portably(() => encode(value, what));
}

/** Runs `build` with every encode in it refusing shareables, as encodePortable (a cluster Pool's tasks). */
export function portably<T>(build: () => T): T {
  const outer = portable;
  portable = true;
  try {
    return build();
  } finally {
    portable = outer;
  }
}

/**
 * decode() for bytes that came from another machine (multiproc/redis): a
 * handle of a shareable object (which names a process and a descriptor of
 * this machine) is refused, so whoever can write to Redis cannot make a
 * reader attach to another process's memory.
 */
export function decodePortable<T = unknown>(bytes: Uint8Array): T {
  portable = true;
  try {
    return decode<T>(bytes);
  } finally {
    portable = false;
  }
}

function tagged(tag: Tag, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + body.length);
  out[0] = tag;
  out.set(body, 1);
  return out;
}

/**
 * encode(value) preceded by `reserve` bytes the caller fills in (a message
 * header): plain data is written once, straight after them. With `scratch`,
 * plain data comes back as a view of the encoder's buffer, valid only until
 * the next encode (for a caller that writes it into a ring at once).
 */
export function encodeReserved(value: unknown, what: string, reserve: number, scratch = false): Uint8Array {
  if (typeof value !== 'object' || value === null) return withReserve(encode(value, what), reserve);
  if (scratch && isPlainBytes(value) && value.length <= SCRATCH_BYTES_MAX) return scratchMessage(Tag.Bytes, reserve, value);
  return encodePlain(value, Tag.Plain, reserve, scratch) ?? withReserve(encode(value, what), reserve);
}

/** Raw bytes up to this size go through the encoder's scratch buffer (larger ones would keep it that large). */
const SCRATCH_BYTES_MAX = 1 << 15;

/** A plain Uint8Array or a Buffer: sent as its bytes (Tag.Bytes). */
function isPlainBytes(value: object): value is Uint8Array {
  return value instanceof Uint8Array && (value.constructor === Uint8Array || Buffer.isBuffer(value));
}

/** encodeReserved(items.slice(start, end)), without making the slice when the items are plain data. */
export function encodeSlice(items: unknown[], start: number, end: number, what: string, reserve = 0, scratch = false): Uint8Array {
  return encodePlainSlice(items, start, end, Tag.Plain, reserve, scratch) ?? withReserve(encode(items.slice(start, end), what), reserve);
}

function withReserve(body: Uint8Array, reserve: number): Uint8Array {
  if (reserve === 0) return body;
  const out = new Uint8Array(reserve + body.length);
  out.set(body, reserve);
  return out;
}

/** Whether decoding the value at bytes[start] copies everything it returns (plain data does; raw bytes are a view). */
export function decodesToCopies(bytes: Uint8Array, start: number): boolean {
  return bytes[start] === Tag.Plain || bytes[start] <= Tag.String;
}

/** decode() of the encoded value that starts at bytes[start] (no subarray for plain data). */
export function decodeAt<T = unknown>(bytes: Uint8Array, start: number): T {
  if (bytes[start] === Tag.Plain) return decodePlain(bytes, start) as T;
  return decode<T>(bytes.subarray(start));
}

/** Decodes the encoded array at bytes[start] into out[offset...]; returns how many items it had. */
export function decodeInto(bytes: Uint8Array, out: unknown[], offset: number, start = 0): number {
  if (bytes[start] === Tag.Plain) {
    const n = decodePlainArrayInto(bytes, out, offset, start);
    if (n >= 0) return n;
  }
  const items = decodeAt<unknown[]>(bytes, start);
  for (let i = 0; i < items.length; i++) out[offset + i] = items[i];
  return items.length;
}

export function decode<T = unknown>(bytes: Uint8Array, sabs?: readonly SharedArrayBuffer[]): T {
  switch (bytes[0] as Tag) {
    case Tag.Undefined:
      return undefined as T;
    case Tag.Null:
      return null as T;
    case Tag.False:
      return false as T;
    case Tag.True:
      return true as T;
    case Tag.Number:
      for (let i = 0; i < 8; i++) scratchBytes[i] = bytes[i + 1];
      return scratch[0] as T;
    case Tag.String:
      return decodeString(bytes) as T;
    case Tag.V8:
      return v8.deserialize(bytes.subarray(1)) as T;
    case Tag.Bytes:
      return bytes.subarray(1) as T; // the message is ours alone: no copy
    case Tag.Plain:
      return decodePlain(bytes) as T;
    case Tag.Marked:
      receivedList = sabs ?? null;
      try {
        return revive(v8.deserialize(bytes.subarray(1)), new Set()) as T;
      } finally {
        receivedList = null;
      }
    default:
      throw new TypeError(`cannot decode a message with tag ${bytes[0]}: not written by multiproc's codec`);
  }
}

/** Short ASCII strings byte by byte (faster than TextEncoder for them); others as UTF-8. */
function encodeString(value: string): Uint8Array {
  const n = value.length;
  if (n <= 64) {
    const out = new Uint8Array(1 + n);
    out[0] = Tag.String;
    let i = 0;
    for (; i < n; i++) {
      const c = value.charCodeAt(i);
      if (c > 0x7f) break;
      out[i + 1] = c;
    }
    if (i === n) return out;
  }
  if (n * 3 < stringScratch.length) {
    // Encoded into scratch space, then copied into a slab at its exact size (see small-bytes.ts).
    const { written } = encoder.encodeInto(value, stringScratchBody);
    return ownedCopy(stringScratch.subarray(0, 1 + written));
  }
  const out = new Uint8Array(1 + n * 3);
  out[0] = Tag.String;
  const { written } = encoder.encodeInto(value, out.subarray(1));
  return out.subarray(0, 1 + written);
}

function decodeString(bytes: Uint8Array): string {
  const n = bytes.length - 1;
  if (n <= 64) {
    let ascii = true;
    for (let i = 1; i <= n; i++) if (bytes[i] > 0x7f) ascii = false;
    if (ascii) return String.fromCharCode.apply(null, bytes.subarray(1) as unknown as number[]);
  }
  return decoder.decode(bytes.subarray(1));
}

function serialize(data: unknown, original: unknown, what: string): Buffer {
  try {
    return v8.serialize(data);
  } catch (err) {
    // A host object (a socket, a WeakMap, a Promise, ...) deep inside: name it.
    const culprit = findUnclonable(original, what, new Set());
    throw new TypeError(`${culprit ?? what} cannot be sent: ${(err as Error).message}`, { cause: err });
  }
}

/** Objects the scan does not descend into: structured clone copies them whole. */
function isLeafObject(value: object): boolean {
  return (
    ArrayBuffer.isView(value) ||
    value instanceof ArrayBuffer ||
    value instanceof Date ||
    value instanceof RegExp ||
    value instanceof Boolean ||
    value instanceof Number ||
    value instanceof String
  );
}

function childPath(path: string, key: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`;
}

function unsendable(path: string, value: unknown): never {
  const kind = typeof value === 'function' ? 'a function' : typeof value === 'symbol' ? 'a symbol' : 'a SharedArrayBuffer';
  const hint =
    typeof value === 'function'
      ? ' (code reaches a child as a Process target or with task(), not as data)'
      : value instanceof SharedArrayBuffer
        ? ' (share memory with RawArray, Value or SharedMemory instead)'
        : '';
  throw new TypeError(`${path} is ${kind} and cannot be sent to another process${hint}`);
}

/**
 * Throws for unsendable parts; returns true when the value holds shareable
 * objects or errors, which must be rewritten into markers before serializing.
 */
function scan(value: unknown, path: string, seen: Set<object>): boolean {
  if (typeof value === 'function' || typeof value === 'symbol') unsendable(path, value);
  if (typeof value !== 'object' || value === null || seen.has(value)) return false;
  seen.add(value);
  if (portable && isShareable(value)) {
    throw new TypeError(`${path} is a ${value.constructor?.name ?? 'shareable object'}, which lives in this machine's memory and cannot travel through Redis to another machine`);
  }
  if (isShareable(value) || value instanceof Error) return scanErrorProps(value, path, seen);
  if (value instanceof SharedArrayBuffer) unsendable(path, value);
  if (isLeafObject(value)) return false;
  let marked = false;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) marked = scan(value[i], `${path}[${i}]`, seen) || marked;
  } else if (value instanceof Map) {
    for (const [k, v] of value) {
      marked = scan(k, `${path} (a Map key)`, seen) || marked;
      marked = scan(v, `${path}.get(${typeof k === 'string' ? JSON.stringify(k) : String(k)})`, seen) || marked;
    }
  } else if (value instanceof Set) {
    for (const v of value) marked = scan(v, `${path} (a Set element)`, seen) || marked;
  } else {
    const keys = Object.keys(value);
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) checkClonable(value, keys, path);
    for (const key of keys) marked = scan((value as Record<string, unknown>)[key], childPath(path, key), seen) || marked;
  }
  return marked;
}

/**
 * Structured clone copies a class instance as a plain object of its own
 * properties, but refuses a host object (a WeakMap, a WeakRef, a Promise, a
 * Blob, ...) whatever it holds. The scan refuses it too: beside a shareable
 * the rewrite would copy it into a plain {} silently. Host objects seldom
 * have own properties, and serializing an object without any checks that
 * object alone; the common ones are recognized whatever they hold.
 */
function checkClonable(value: object, keys: string[], path: string): void {
  if (keys.length > 0 && !types.isProxy(value) && !types.isPromise(value) && !types.isWeakMap(value) && !types.isWeakSet(value)) return;
  try {
    v8.serialize(value);
  } catch (err) {
    throw new TypeError(`${culprit(path, value)} cannot be sent: ${(err as Error).message}`, { cause: err });
  }
}

/** `path (a WeakMap)`: a path, with the class of what is there when that says more. */
function culprit(path: string, value: object): string {
  const ctor = types.isProxy(value) ? 'Proxy' : value.constructor?.name;
  return ctor && ctor !== 'Object' ? `${path} (${/^[AEIOU]/.test(ctor) ? 'an' : 'a'} ${ctor})` : path;
}

function scanErrorProps(value: object, path: string, seen: Set<object>): true {
  if (value instanceof Error) {
    for (const key of Object.keys(value)) scan((value as unknown as Record<string, unknown>)[key], childPath(path, key), seen);
    if ('cause' in value) scan(value.cause, `${path}.cause`, seen);
  }
  return true;
}

/** A deep copy in which shareable objects and errors are markers. Cycles are kept. */
function rewrite(value: unknown, memo: Map<object, unknown>): unknown {
  if (typeof value !== 'object' || value === null) return value;
  const done = memo.get(value);
  if (done !== undefined) return done;
  if (isShareable(value)) {
    // A handle's data may hold shareables itself (a Condition's lock): rewrite it too.
    const handle = value[shareable]();
    const marker: Marker = { [MARK]: 'handle', handle: { type: handle.type, data: undefined } };
    memo.set(value, marker);
    marker.handle.data = rewrite(handle.data, memo);
    return marker;
  }
  if (isLeafObject(value)) return value;
  if (value instanceof Error) {
    const props: Record<string, unknown> = {};
    const marker: Marker = { [MARK]: 'error', name: value.name, message: value.message, stack: value.stack, props };
    memo.set(value, marker);
    for (const key of Object.keys(value)) props[key] = rewrite((value as unknown as Record<string, unknown>)[key], memo);
    if ('cause' in value) props.cause = rewrite(value.cause, memo);
    return marker;
  }
  if (Array.isArray(value)) {
    const copy: unknown[] = new Array(value.length);
    memo.set(value, copy);
    for (let i = 0; i < value.length; i++) copy[i] = rewrite(value[i], memo);
    return copy;
  }
  if (value instanceof Map) {
    const copy = new Map();
    memo.set(value, copy);
    for (const [k, v] of value) copy.set(rewrite(k, memo), rewrite(v, memo));
    return copy;
  }
  if (value instanceof Set) {
    const copy = new Set();
    memo.set(value, copy);
    for (const v of value) copy.add(rewrite(v, memo));
    return copy;
  }
  const copy: Record<string, unknown> = {};
  memo.set(value, copy);
  for (const key of Object.keys(value)) copy[key] = rewrite((value as Record<string, unknown>)[key], memo);
  return copy;
}

function isMarker(value: object): value is Marker {
  return  Object.hasOwn(value, MARK);
}

function reviveMarker(marker: Marker, seen: Set<object>): unknown {
  if (marker[MARK] === 'handle' && portable) {
    throw new TypeError(`a message from another machine carries a ${marker.handle.type} handle, which only this machine's processes can send: refused`);
  }
  if (marker[MARK] === 'handle') return rehydrate({ type: marker.handle.type, data: revive(marker.handle.data, seen) });
  const Class = errorClasses[marker.name] ?? Error;
  const error = new Class(marker.message);
  if (error.name !== marker.name) Object.defineProperty(error, 'name', { value: marker.name, writable: true, configurable: true });
  for (const [key, v] of Object.entries(marker.props)) (error as unknown as Record<string, unknown>)[key] = revive(v, seen);
  if (marker.stack !== undefined) {
    error.stack = marker.stack;
    (error as { remoteStack?: string }).remoteStack ??= marker.stack;
  }
  return error;
}

/** Replaces markers in a freshly deserialized value, in place. */
function revive(value: unknown, seen: Set<object>): unknown {
  if (typeof value !== 'object' || value === null || isLeafObject(value)) return value;
  if (isMarker(value)) return reviveMarker(value, seen);
  if (seen.has(value)) return value;
  seen.add(value);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = revive(value[i], seen);
  } else if (value instanceof Map) {
    const entries = [...value];
    value.clear();
    for (const [k, v] of entries) value.set(revive(k, seen), revive(v, seen));
  } else if (value instanceof Set) {
    const items = [...value];
    value.clear();
    for (const v of items) value.add(revive(v, seen));
  } else {
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record)) record[key] = revive(record[key], seen);
  }
  return value;
}

/** The path of the first part of `value` that v8 cannot serialize (error path only). */
function findUnclonable(value: unknown, path: string, seen: Set<object>): string | undefined {
  if (typeof value !== 'object' || value === null || seen.has(value) || isShareable(value)) return undefined;
  seen.add(value);
  const children: [string, unknown][] = Array.isArray(value)
    ? value.map((v, i) => [`${path}[${i}]`, v])
    : value instanceof Map
      ? [...value].map(([k, v]) => [`${path}.get(${String(k)})`, v])
      : value instanceof Set
        ? [...value].map((v) => [`${path} (a Set element)`, v])
        : Object.keys(value).map((k) => [childPath(path, k), (value as Record<string, unknown>)[k]]);
  for (const [p, v] of children) {
    const deeper = findUnclonable(v, p, seen);
    if (deeper) return deeper;
  }
  try {
    v8.serialize(value);
  } catch {
    return culprit(path, value);
  }
  return undefined;
}
