// The authkey handshake of Python's multiprocessing.connection: an HMAC
// challenge/response, delivered by each side in turn. Python 3.12+ prefixes
// the challenge with the digest name ('{sha256}') and its answer likewise;
// Python 3.11 and older answer with a bare HMAC-MD5. Both are accepted here,
// so multiproc talks to either.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { AuthenticationError } from '../errors.js';

export const CHALLENGE = Buffer.from('#CHALLENGE#');
export const WELCOME = Buffer.from('#WELCOME#');
export const FAILURE = Buffer.from('#FAILURE#');
const MESSAGE_LENGTH = 40;
const MD5_ONLY_LENGTH = 20;
const DIGEST = 'sha256';
const ALLOWED_DIGESTS = new Set(['md5', 'sha256', 'sha384', 'sha3_256', 'sha3_384']);

/** What both ends of a socket connection need for the handshake. */
export interface MessageChannel {
  sendBytes(buf: Uint8Array): Promise<void>;
  recvBytes(maxlength?: number): Promise<Buffer>;
}

export function toAuthkey(authkey: Uint8Array | string | undefined | null): Buffer | null {
  if (authkey === undefined || authkey === null) return null;
  if (typeof authkey === 'string') return Buffer.from(authkey);
  if (authkey instanceof Uint8Array) return Buffer.from(authkey.buffer, authkey.byteOffset, authkey.byteLength);
  throw new TypeError('authkey must be a Buffer, a Uint8Array or a string');
}

/** The digest name of a '{name}...' message, or null for the legacy (MD5) form. */
function digestNameOf(message: Buffer): string | null {
  if (message[0] !== 0x7b /* { */) return null;
  const end = message.indexOf(0x7d /* } */);
  if (end < 0 || end > 20) return null;
  return message.subarray(1, end).toString('latin1');
}

function hmac(digest: string, key: Buffer, message: Buffer): Buffer {
  return createHmac(digest.replace('_', '-'), key).update(message).digest();
}

function createResponse(authkey: Buffer, message: Buffer): Buffer {
  const name = digestNameOf(message);
  if (name === null) return hmac('md5', authkey, message); // Python 3.11 and older
  if (!ALLOWED_DIGESTS.has(name)) throw new AuthenticationError(`unsupported digest ${JSON.stringify(name)}`);
  return Buffer.concat([Buffer.from(`{${name}}`), hmac(name, authkey, message)]);
}

function verify(authkey: Buffer, message: Buffer, response: Buffer): boolean {
  let expected: Buffer;
  const name = digestNameOf(response);
  if (name === null) expected = hmac('md5', authkey, message);
  else if (ALLOWED_DIGESTS.has(name)) expected = Buffer.concat([Buffer.from(`{${name}}`), hmac(name, authkey, message)]);
  else return false;
  return expected.length === response.length && timingSafeEqual(expected, response);
}

/** Challenges the peer: it must prove it knows `authkey`. */
export async function deliverChallenge(conn: MessageChannel, authkey: Buffer): Promise<void> {
  const message = Buffer.concat([Buffer.from(`{${DIGEST}}`), randomBytes(MESSAGE_LENGTH)]);
  await conn.sendBytes(Buffer.concat([CHALLENGE, message]));
  const response = await conn.recvBytes(256);
  if (verify(authkey, message, response)) {
    await conn.sendBytes(WELCOME);
    return;
  }
  await conn.sendBytes(FAILURE).catch(() => {});
  throw new AuthenticationError('digest received was wrong');
}

/** Answers the peer's challenge. */
export async function answerChallenge(conn: MessageChannel, authkey: Buffer): Promise<void> {
  const challenge = await conn.recvBytes(256);
  if (!challenge.subarray(0, CHALLENGE.length).equals(CHALLENGE)) {
    throw new AuthenticationError('protocol error: expected a challenge');
  }
  const message = challenge.subarray(CHALLENGE.length);
  if (message.length < MD5_ONLY_LENGTH) throw new AuthenticationError(`challenge too short: ${message.length} bytes`);
  await conn.sendBytes(createResponse(authkey, message));
  const verdict = await conn.recvBytes(256);
  if (!verdict.equals(WELCOME)) throw new AuthenticationError('digest sent was rejected');
}
