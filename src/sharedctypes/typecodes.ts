// Typecodes as Python's array module and ctypes on Linux x86-64, and the
// typed array that holds each. 'l' 'L' 'q' 'Q' are 64-bit and read as bigint;
// 'c' is one byte (a char); '?' (ctypes' c_bool) is one byte read as a boolean.
// The type-level maps below let `Value('i', 0).value` be a number,
// `Value('q', 0).value` a bigint and `Array('d', 3)` a Float64Array.
type TypedArrayCtor =
  | Int8ArrayConstructor
  | Uint8ArrayConstructor
  | Int16ArrayConstructor
  | Uint16ArrayConstructor
  | Int32ArrayConstructor
  | Uint32ArrayConstructor
  | Float32ArrayConstructor
  | Float64ArrayConstructor
  | BigInt64ArrayConstructor
  | BigUint64ArrayConstructor;

export type AnyTypedArray =
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array;

/** The typed array of each one-letter typecode and ctypes name. */
export interface ArrayTypes {
  b: Int8Array;
  B: Uint8Array;
  h: Int16Array;
  H: Uint16Array;
  i: Int32Array;
  I: Uint32Array;
  l: BigInt64Array;
  L: BigUint64Array;
  q: BigInt64Array;
  Q: BigUint64Array;
  f: Float32Array;
  d: Float64Array;
  c: Uint8Array;
  '?': Uint8Array;
  c_bool: Uint8Array;
  c_char: Uint8Array;
  c_byte: Int8Array;
  c_ubyte: Uint8Array;
  c_short: Int16Array;
  c_ushort: Uint16Array;
  c_int: Int32Array;
  c_uint: Uint32Array;
  c_long: BigInt64Array;
  c_ulong: BigUint64Array;
  c_longlong: BigInt64Array;
  c_ulonglong: BigUint64Array;
  c_float: Float32Array;
  c_double: Float64Array;
  c_int8: Int8Array;
  c_uint8: Uint8Array;
  c_int16: Int16Array;
  c_uint16: Uint16Array;
  c_int32: Int32Array;
  c_uint32: Uint32Array;
  c_int64: BigInt64Array;
  c_uint64: BigUint64Array;
  c_size_t: BigUint64Array;
  c_ssize_t: BigInt64Array;
}

/** A typecode ('i', 'd', ...) or a ctypes name ('c_int', ...). Any other string is a TypeError at run time. */
export type Typecode = keyof ArrayTypes;

/** The typed array an Array of typecode T is. */
export type ArrayOf<T extends string> = T extends Typecode ? ArrayTypes[T] : AnyTypedArray;

/** What `.value` reads as for typecode T: number, bigint, a 1-byte Buffer ('c') or a boolean ('?'). */
export type ValueOf<T extends string> = T extends 'c' | 'c_char'
  ? Buffer
  : T extends '?' | 'c_bool'
    ? boolean
    : T extends Typecode
      ? ArrayTypes[T] extends BigInt64Array | BigUint64Array
        ? bigint
        : number
      : number | bigint | boolean | Buffer;

/** What `.value` and initializers accept (checked at run time for the typecode). */
export type ValueInput = number | bigint | boolean | string | Uint8Array;

export type Kind = 'int' | 'bigint' | 'float' | 'char' | 'bool';

export interface TypeInfo {
  /** The canonical one-letter typecode. */
  code: string;
  ctor: TypedArrayCtor;
  kind: Kind;
}

const CODES: Record<string, Omit<TypeInfo, 'code'>> = {
  b: { ctor: Int8Array, kind: 'int' },
  B: { ctor: Uint8Array, kind: 'int' },
  h: { ctor: Int16Array, kind: 'int' },
  H: { ctor: Uint16Array, kind: 'int' },
  i: { ctor: Int32Array, kind: 'int' },
  I: { ctor: Uint32Array, kind: 'int' },
  l: { ctor: BigInt64Array, kind: 'bigint' },
  L: { ctor: BigUint64Array, kind: 'bigint' },
  q: { ctor: BigInt64Array, kind: 'bigint' },
  Q: { ctor: BigUint64Array, kind: 'bigint' },
  f: { ctor: Float32Array, kind: 'float' },
  d: { ctor: Float64Array, kind: 'float' },
  c: { ctor: Uint8Array, kind: 'char' },
  '?': { ctor: Uint8Array, kind: 'bool' },
};

/** ctypes names → typecodes (x86-64 Linux sizes: long and size_t are 64-bit). */
const CTYPES: Record<string, string> = {
  c_bool: '?',
  c_char: 'c',
  c_byte: 'b',
  c_ubyte: 'B',
  c_short: 'h',
  c_ushort: 'H',
  c_int: 'i',
  c_uint: 'I',
  c_long: 'l',
  c_ulong: 'L',
  c_longlong: 'q',
  c_ulonglong: 'Q',
  c_float: 'f',
  c_double: 'd',
  c_int8: 'b',
  c_uint8: 'B',
  c_int16: 'h',
  c_uint16: 'H',
  c_int32: 'i',
  c_uint32: 'I',
  c_int64: 'q',
  c_uint64: 'Q',
  c_size_t: 'L',
  c_ssize_t: 'l',
};

const infos = new Map<string, TypeInfo>(Object.entries(CODES).map(([code, info]) => [code, { code, ...info }]));

/** The TypeInfo of a typecode or ctypes name; TypeError ("bad typecode") otherwise. */
export function typeInfo(typecode: unknown): TypeInfo {
  const code = typeof typecode === 'string' && Object.hasOwn(CTYPES, typecode) ? CTYPES[typecode] : typecode;
  const info = typeof code === 'string' ? infos.get(code) : undefined;
  if (!info) {
    const shown = typeof typecode === 'string' ? JSON.stringify(typecode) : String(typecode);
    throw new TypeError(
      `bad typecode ${shown} (must be one of ${[...infos.keys()].filter((c) => c !== '?').join(' ')} or a ctypes name such as 'c_int' or 'c_double')`,
    );
  }
  return info;
}

function describe(v: unknown): string {
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return `${typeof v} ${String(v)}`;
  if (typeof v === 'string') return `string ${JSON.stringify(v.length > 20 ? v.slice(0, 20) + '…' : v)}`;
  if (v === null) return 'null';
  return typeof v === 'object' ? (v.constructor?.name ?? 'object') : typeof v;
}

/**
 * Checks and converts one element for storing, as ctypes accepts it: integers
 * for integer typecodes (out-of-range values wrap as in C, by the typed
 * array's own conversion), numbers for 'f'/'d', one byte for 'c', anything
 * for '?' (its truthiness). A wrong type is a TypeError.
 */
export function toElement(info: TypeInfo, v: unknown, what: string): number | bigint {
  switch (info.kind) {
    case 'int':
      if (typeof v === 'number' && Number.isInteger(v)) return v;
      if (typeof v === 'bigint') return Number(BigInt.asIntN(32, v)); // the low 32 bits; the typed array wraps further
      if (typeof v === 'boolean') return Number(v);
      throw new TypeError(`${what}: an integer is required for typecode '${info.code}', got ${describe(v)}`);
    case 'bigint':
      if (typeof v === 'bigint') return v;
      if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
      if (typeof v === 'boolean') return BigInt(v);
      throw new TypeError(`${what}: an integer (bigint or number) is required for typecode '${info.code}', got ${describe(v)}`);
    case 'float':
      if (typeof v === 'number') return v;
      if (typeof v === 'bigint') return Number(v);
      if (typeof v === 'boolean') return Number(v);
      throw new TypeError(`${what}: a number is required for typecode '${info.code}', got ${describe(v)}`);
    case 'bool':
      return v ? 1 : 0;
    case 'char':
      if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 255) return v;
      if (typeof v === 'string' && v.length === 1 && v.charCodeAt(0) <= 255) return v.charCodeAt(0);
      if (v instanceof Uint8Array && v.length === 1) return v[0]!;
      throw new TypeError(
        `${what}: one byte is required for typecode 'c' (a 1-character string, a number 0-255 or a 1-byte Uint8Array), got ${describe(v)}`,
      );
  }
}

/** How a stored element reads back ('c' as a 1-byte Buffer, as Python's bytes; '?' as a boolean). */
export function fromElement(info: TypeInfo, raw: number | bigint): unknown {
  if (info.kind === 'char') return Buffer.of(raw as number);
  if (info.kind === 'bool') return raw !== 0;
  return raw;
}
