// Typecodes as Python's array module and ctypes on Linux x86-64, and the
// typed array that holds each. 'l' 'L' 'q' 'Q' are 64-bit and read as bigint;
// 'c' is one byte (a char).
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

export interface TypeInfo {
  /** The canonical one-letter typecode. */
  code: string;
  ctor: TypedArrayCtor;
  kind: 'int' | 'bigint' | 'float' | 'char' | 'bool';
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

/** ctypes names → typecodes (x86-64 Linux sizes). */
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

export function typeInfo(typecode: unknown): TypeInfo {
  const code = typeof typecode === 'string' ? (CTYPES[typecode] ?? typecode) : undefined;
  const info = code !== undefined ? CODES[code] : undefined;
  if (!info) {
    throw new TypeError(
      `bad typecode ${JSON.stringify(typecode)} (must be one of ${Object.keys(CODES).filter((c) => c !== '?').join(' ')} or a ctypes name such as 'c_int' or 'c_double')`,
    );
  }
  return { code: code!, ...info };
}

/** Checks and converts one element for storing, as ctypes would accept it. */
export function toElement(info: TypeInfo, v: unknown, what: string): number | bigint {
  switch (info.kind) {
    case 'int':
      if (typeof v === 'number' && Number.isInteger(v)) return v;
      if (typeof v === 'bigint') return Number(v);
      if (typeof v === 'boolean') return Number(v);
      throw new TypeError(`${what}: an integer is required for typecode '${info.code}', got ${typeof v === 'number' ? v : typeof v}`);
    case 'bigint':
      if (typeof v === 'bigint') return v;
      if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
      throw new TypeError(`${what}: an integer (bigint or number) is required for typecode '${info.code}', got ${typeof v}`);
    case 'float':
      if (typeof v === 'number') return v;
      if (typeof v === 'bigint') return Number(v);
      throw new TypeError(`${what}: a number is required for typecode '${info.code}', got ${typeof v}`);
    case 'bool':
      return v ? 1 : 0;
    case 'char':
      if (typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 255) return v;
      if (typeof v === 'string' && v.length === 1 && v.charCodeAt(0) <= 255) return v.charCodeAt(0);
      if (v instanceof Uint8Array && v.length === 1) return v[0];
      throw new TypeError(`${what}: a single byte is required for typecode 'c' (a 1-character string, a number 0-255 or a 1-byte Uint8Array)`);
  }
}

/** How a stored element reads back ('c' as a 1-byte Buffer, as Python's bytes; '?' as a boolean). */
export function fromElement(info: TypeInfo, raw: number | bigint): unknown {
  if (info.kind === 'char') return Buffer.of(raw as number);
  if (info.kind === 'bool') return raw !== 0;
  return raw;
}
