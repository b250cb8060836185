// The manager wire protocol: one union of request messages (client → server)
// and one of responses (server → client), as comlink's protocol.ts, and their
// byte form. The same bytes travel over a shared-memory ring (clients on this
// machine) and over a socket (remote clients, framed by SocketConnection).
//
// Byte form: a 16-byte header [kind u8, 0, 0, 0][client u32][call u32][oid u32]
// (a response uses only kind and call), then the body:
//   Call / Create: [u16 length][method or typeid, UTF-8] then the arguments,
//                  each as [u32 length][codec bytes]
//   Hello:         codec bytes of { token, reply } (a local client's reply ring)
//   Result / Fail / Remote: codec bytes of the value, the error, or { message, stack }
//   others:        nothing
// Each argument is encoded on its own so numbers and short strings take the
// codec's fast paths (an array of them would go through v8.serialize).
import { decode, encode } from '../codec/codec.js';
import { WORD_A, WORD_B } from '../channel/ring.js';
import type { Segment } from '../shm/segment.js';

/** Request-ring header words (the ring leaves them to its users): client ids, and the server's state. */
export const NEXT_CLIENT = WORD_A;
/** 0 while starting; the server thread's liveness token while it serves; SHUT_DOWN after. */
export const SERVER_STATE = WORD_B;
export const SHUT_DOWN = -1;

/** Calls on the manager itself (describe, shutdown) go to this object id; creating an object to CREATE_OID. */
export const MANAGER_OID = -2;
export const CREATE_OID = -1;

export const enum Kind {
  // requests
  Hello = 1,
  Call = 2,
  Create = 3,
  /** A proxy is being sent somewhere: one reference is in flight. */
  Incref = 4,
  /** A received proxy takes over a reference that was in flight. */
  Adopt = 5,
  Decref = 6,
  Describe = 7,
  Shutdown = 8,
  /** The client's AbortSignal fired: stop waiting for call `call` if it still waits. */
  Cancel = 9,
  // responses
  Result = 16,
  /** The referent threw: the value is the error. */
  Fail = 17,
  /** The server could not serve the call (RemoteError). */
  Remote = 18,
  /** The server shut down: every call still waiting fails. */
  Closed = 19,
  /** The call was cancelled before it completed (its client rejects it with the signal's reason). */
  Cancelled = 20,
}

export type Request =
  | { kind: Kind.Hello; client: number; hello: HelloData }
  | { kind: Kind.Call; client: number; call: number; oid: number; method: string; args: unknown[] }
  | { kind: Kind.Create; client: number; call: number; typeid: string; args: unknown[] }
  | { kind: Kind.Incref | Kind.Adopt | Kind.Decref; client: number; oid: number }
  | { kind: Kind.Describe | Kind.Shutdown | Kind.Cancel; client: number; call: number };

export type Response =
  | { kind: Kind.Result | Kind.Fail; call: number; value: unknown }
  | { kind: Kind.Remote; call: number; value: { message: string; stack?: string } }
  | { kind: Kind.Closed; call: 0; value: undefined }
  | { kind: Kind.Cancelled; call: number; value: undefined };

/** What a local client tells the server first: who it is, and where replies go. */
export interface HelloData {
  /** The client thread's liveness token: the server drops the client once it is dead. */
  token: number;
  reply: Segment;
}

const HEADER = 16;
const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

// Little-endian integers by hand: no DataView per message on the hot path.
const putU32 = (b: Uint8Array, at: number, v: number): void => {
  b[at] = v;
  b[at + 1] = v >>> 8;
  b[at + 2] = v >>> 16;
  b[at + 3] = v >>> 24;
};
const getU32 = (b: Uint8Array, at: number): number => (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24)) >>> 0;

/** Method names and typeids as bytes, once per name. */
const nameBytes = new Map<string, Uint8Array>();
function encodeName(name: string): Uint8Array {
  let bytes = nameBytes.get(name);
  if (!bytes) {
    bytes = utf8.encode(name);
    if (bytes.length > 0xffff) throw new RangeError('method name too long');
    if (nameBytes.size < 4096) nameBytes.set(name, bytes);
  }
  return bytes;
}

function decodeName(bytes: Uint8Array): string {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] > 0x7f) return fromUtf8.decode(bytes);
  return String.fromCharCode.apply(null, bytes as unknown as number[]); // ASCII: the common case
}

const argLabels = Array.from({ length: 16 }, (_, i) => `args[${i}]`);
const encodeArgs = (args: unknown[]): Uint8Array[] => {
  const parts = new Array<Uint8Array>(args.length);
  for (let i = 0; i < args.length; i++) parts[i] = encode(args[i], argLabels[i] ?? `args[${i}]`);
  return parts;
};

/** Encodes a request; throws (TypeError naming the argument) for unsendable arguments, before anything is sent. */
export function encodeRequest(msg: Request): Uint8Array {
  let name: Uint8Array | null = null;
  let parts: Uint8Array[] = [];
  switch (msg.kind) {
    case Kind.Call:
      name = encodeName(msg.method);
      parts = encodeArgs(msg.args);
      break;
    case Kind.Create:
      name = encodeName(msg.typeid);
      parts = encodeArgs(msg.args);
      break;
    case Kind.Hello:
      parts = [encode(msg.hello, 'hello')];
      break;
  }
  const lengthPrefixed = name !== null;
  let size = HEADER + (name ? 2 + name.length : 0);
  for (const p of parts) size += (lengthPrefixed ? 4 : 0) + p.length;
  const out = new Uint8Array(size);
  out[0] = msg.kind;
  putU32(out, 4, msg.client);
  putU32(out, 8, 'call' in msg ? msg.call : 0);
  putU32(out, 12, 'oid' in msg ? msg.oid : 0);
  let at = HEADER;
  if (name) {
    out[at] = name.length;
    out[at + 1] = name.length >>> 8;
    out.set(name, at + 2);
    at += 2 + name.length;
  }
  for (const p of parts) {
    if (lengthPrefixed) {
      putU32(out, at, p.length);
      at += 4;
    }
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The client id of a request, if its header is readable (to answer a malformed one). */
export function clientIdOf(bytes: Uint8Array): number | null {
  return bytes.length >= 8 ? getU32(bytes, 4) : null;
}

/** The call id of a request, if its header is readable (to answer a malformed one). */
export function callIdOf(bytes: Uint8Array): number {
  return bytes.length >= HEADER ? getU32(bytes, 8) : 0;
}

/** Decodes a request; throws a TypeError for bytes that are not one. */
export function decodeRequest(bytes: Uint8Array): Request {
  if (bytes.length < HEADER) throw new TypeError(`malformed request: ${bytes.length} bytes is shorter than a header`);
  const kind = bytes[0] as Kind;
  const client = getU32(bytes, 4);
  const call = getU32(bytes, 8);
  const oid = getU32(bytes, 12);
  switch (kind) {
    case Kind.Call:
    case Kind.Create: {
      if (bytes.length < HEADER + 2) throw new TypeError('malformed request: no method name');
      const n = bytes[HEADER] | (bytes[HEADER + 1] << 8);
      if (HEADER + 2 + n > bytes.length) throw new TypeError('malformed request: the method name runs past the end');
      const name = decodeName(bytes.subarray(HEADER + 2, HEADER + 2 + n));
      const args: unknown[] = [];
      for (let at = HEADER + 2 + n; at < bytes.length; ) {
        if (at + 4 > bytes.length) throw new TypeError('malformed request: truncated argument');
        const len = getU32(bytes, at);
        if (len === 0 || at + 4 + len > bytes.length) throw new TypeError('malformed request: an argument runs past the end');
        args.push(decode(bytes.subarray(at + 4, at + 4 + len)));
        at += 4 + len;
      }
      return kind === Kind.Call ? { kind, client, call, oid, method: name, args } : { kind, client, call, typeid: name, args };
    }
    case Kind.Hello:
      return { kind, client, hello: decode<HelloData>(bytes.subarray(HEADER)) };
    case Kind.Incref:
    case Kind.Adopt:
    case Kind.Decref:
      return { kind, client, oid };
    case Kind.Describe:
    case Kind.Shutdown:
    case Kind.Cancel:
      return { kind, client, call };
    default:
      throw new TypeError(`malformed request: unknown kind ${kind}`);
  }
}

/** Encodes a response. An unsendable result becomes a Fail with the TypeError that says why. */
export function encodeResponse(msg: Response): Uint8Array {
  let body: Uint8Array;
  try {
    body = encode(msg.value, msg.kind === Kind.Result ? 'the result' : 'the error');
  } catch (err) {
    return encodeResponse({ kind: Kind.Fail, call: msg.call, value: err });
  }
  const out = new Uint8Array(HEADER + body.length);
  out[0] = msg.kind;
  putU32(out, 8, msg.call);
  out.set(body, HEADER);
  return out;
}

/** The call id of a response (to fail that call when the rest cannot be decoded). */
export const responseCallOf = callIdOf;

export function decodeResponse(bytes: Uint8Array): Response {
  if (bytes.length < HEADER) throw new TypeError('malformed response');
  return { kind: bytes[0], call: getU32(bytes, 8), value: decode(bytes.subarray(HEADER)) } as Response;
}
