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
import type { Segment } from '../shm/segment.js';

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
  // responses
  Result = 16,
  /** The referent threw: the value is the error. */
  Fail = 17,
  /** The server could not serve the call (RemoteError). */
  Remote = 18,
  /** The server shut down: every call still waiting fails. */
  Closed = 19,
}

export type Request =
  | { kind: Kind.Hello; client: number; hello: HelloData }
  | { kind: Kind.Call; client: number; call: number; oid: number; method: string; args: unknown[] }
  | { kind: Kind.Create; client: number; call: number; typeid: string; args: unknown[] }
  | { kind: Kind.Incref | Kind.Adopt | Kind.Decref; client: number; oid: number }
  | { kind: Kind.Describe | Kind.Shutdown; client: number; call: number };

export type Response =
  | { kind: Kind.Result | Kind.Fail; call: number; value: unknown }
  | { kind: Kind.Remote; call: number; value: { message: string; stack?: string } }
  | { kind: Kind.Closed; call: 0; value: undefined };

/** What a local client tells the server first: who it is, and where replies go. */
export interface HelloData {
  /** The client thread's liveness token: the server drops the client once it is dead. */
  token: number;
  reply: Segment;
}

const HEADER = 16;
const utf8 = new TextEncoder();
const fromUtf8 = new TextDecoder();

/** Encodes a request; throws (TypeError naming the argument) for unsendable arguments, before anything is sent. */
export function encodeRequest(msg: Request): Uint8Array {
  let name: Uint8Array | null = null;
  let parts: Uint8Array[] = [];
  switch (msg.kind) {
    case Kind.Call:
      name = utf8.encode(msg.method);
      parts = msg.args.map((a, i) => encode(a, `args[${i}]`));
      break;
    case Kind.Create:
      name = utf8.encode(msg.typeid);
      parts = msg.args.map((a, i) => encode(a, `args[${i}]`));
      break;
    case Kind.Hello:
      parts = [encode(msg.hello, 'hello')];
      break;
  }
  let size = HEADER + (name ? 2 + name.length : 0);
  const lengthPrefixed = msg.kind === Kind.Call || msg.kind === Kind.Create;
  for (const p of parts) size += (lengthPrefixed ? 4 : 0) + p.length;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  out[0] = msg.kind;
  view.setUint32(4, msg.client, true);
  view.setUint32(8, 'call' in msg ? msg.call : 0, true);
  view.setUint32(12, 'oid' in msg ? msg.oid : 0, true);
  let at = HEADER;
  if (name) {
    if (name.length > 0xffff) throw new RangeError('method name too long');
    view.setUint16(at, name.length, true);
    out.set(name, at + 2);
    at += 2 + name.length;
  }
  for (const p of parts) {
    if (lengthPrefixed) {
      view.setUint32(at, p.length, true);
      at += 4;
    }
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The call id of a request, if its header is readable (to answer a malformed one). */
export function callIdOf(bytes: Uint8Array): number {
  return bytes.length >= HEADER ? new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(8, true) : 0;
}

/** Decodes a request; throws a TypeError for bytes that are not one. */
export function decodeRequest(bytes: Uint8Array): Request {
  if (bytes.length < HEADER) throw new TypeError(`malformed request: ${bytes.length} bytes is shorter than a header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const kind = bytes[0] as Kind;
  const client = view.getUint32(4, true);
  const call = view.getUint32(8, true);
  const oid = view.getUint32(12, true);
  switch (kind) {
    case Kind.Call:
    case Kind.Create: {
      if (bytes.length < HEADER + 2) throw new TypeError('malformed request: no method name');
      const n = view.getUint16(HEADER, true);
      if (HEADER + 2 + n > bytes.length) throw new TypeError('malformed request: the method name runs past the end');
      const name = fromUtf8.decode(bytes.subarray(HEADER + 2, HEADER + 2 + n));
      const args: unknown[] = [];
      for (let at = HEADER + 2 + n; at < bytes.length; ) {
        if (at + 4 > bytes.length) throw new TypeError('malformed request: truncated argument');
        const len = view.getUint32(at, true);
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
  new DataView(out.buffer).setUint32(8, msg.call, true);
  out.set(body, HEADER);
  return out;
}

export function decodeResponse(bytes: Uint8Array): Response {
  if (bytes.length < HEADER) throw new TypeError('malformed response');
  const call = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(8, true);
  return { kind: bytes[0], call, value: decode(bytes.subarray(HEADER)) } as Response;
}
