// Connection and Pipe: Python's multiprocessing.connection over shared-memory
// rings (channel/ring.ts, whole messages through channel/messages.ts). A duplex pipe has a ring per direction; a one-way
// pipe has one. send() is sendBytes() of the codec's encoding, as Python's
// send() is send_bytes() of a pickle. Messages of any size pass; empty ones too.
//
// EOF (ends.ts): recv() raises EOFError once the other end is closed by every
// holder (or they died) and nothing is left. send() on a pipe whose other end
// is gone raises EPIPE instead of waiting forever for room.
import { decode, encode } from '../codec/codec.js';
import { registerHandleType, shareable, type HandleData } from '../codec/handles.js';
import { encodeUndoably, undoIfUnsent } from '../codec/undo.js';
import { BufferTooShort, EOFError, ProcessError } from '../errors.js';
import { Segment, type SegmentHandle } from '../shm/segment.js';
import { rejecting, runAsync, runSync, type Operation } from '../shm/drive.js';
import { deadlineOf, sliceUntil } from '../options.js';
import { readMessage, readMessageSync, writeMessage, writeMessageSync } from '../channel/messages.js';
import {
  HEAD,
  READER_HOLDERS,
  READER_PENDING,
  Ring,
  TAIL,
  WRITER_HOLDERS,
  WRITER_PENDING,
} from '../channel/ring.js';
import { hold, isHeld, ReaderWatch, release } from './ends.js';

const DEFAULT_BUFFER = 1 << 20; // 1 MiB per direction; pages are touched only as used

interface ConnectionHandle {
  read: SegmentHandle | null;
  write: SegmentHandle | null;
}

/** One Connection object per pair of rings per isolate. */
const attached = new Map<string, WeakRef<Connection>>();
const keyOf = (read: Ring | null, write: Ring | null) => `${read?.segment.id ?? '-'}|${write?.segment.id ?? '-'}`;

function epipe(): Error {
  return Object.assign(new ProcessError('cannot send: the other end of the pipe is closed'), { code: 'EPIPE' });
}

function toBytes(buf: ArrayBufferView | ArrayBuffer, offset = 0, size?: number): Uint8Array {
  const bytes = ArrayBuffer.isView(buf) ? new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength) : buf instanceof ArrayBuffer ? new Uint8Array(buf) : null;
  if (!bytes) throw new TypeError('sendBytes needs an ArrayBuffer or an ArrayBufferView');
  if (!Number.isInteger(offset) || offset < 0 || offset > bytes.length) throw new RangeError('offset is negative or beyond the buffer');
  const n = size ?? bytes.length - offset;
  if (!Number.isInteger(n) || n < 0 || offset + n > bytes.length) throw new RangeError('size is negative or beyond the buffer');
  return bytes.subarray(offset, offset + n);
}

export class Connection {
  readonly #read: Ring | null;
  readonly #write: Ring | null;
  /** Whether every holder of the other end's reading side is gone (send fails with EPIPE then). */
  readonly #readers: ReaderWatch | null;
  #closed = false;

  /** Use Pipe(); connections are also received from other processes. */
  constructor(internal: { read: Ring | null; write: Ring | null }) {
    this.#read = internal.read;
    this.#write = internal.write;
    if (this.#read) hold(this.#read.header, READER_HOLDERS);
    if (this.#write) hold(this.#write.header, WRITER_HOLDERS);
    this.#readers = this.#write ? new ReaderWatch(this.#write.header, READER_HOLDERS, READER_PENDING) : null;
    attached.set(keyOf(this.#read, this.#write), new WeakRef(this));
  }

  get closed(): boolean {
    return this.#closed;
  }
  get readable(): boolean {
    return this.#read !== null;
  }
  get writable(): boolean {
    return this.#write !== null;
  }

  // ---- sending ---------------------------------------------------------------

  #writer(): Ring {
    if (this.#closed) throw new ProcessError('handle is closed: the connection was closed');
    if (!this.#write) throw new ProcessError('connection is read-only');
    if (this.#readers!.gone()) throw epipe(); // Python's BrokenPipeError: nobody will ever read it
    return this.#write;
  }

  #abandoned = (): Error | null => (isHeld(this.#write!.header, READER_HOLDERS, READER_PENDING) ? null : epipe());

  async sendBytes(buf: ArrayBufferView | ArrayBuffer, offset?: number, size?: number): Promise<void> {
    const ring = this.#writer();
    await writeMessage(ring, toBytes(buf, offset, size), this.#abandoned);
  }

  sendBytesSync(buf: ArrayBufferView | ArrayBuffer, offset?: number, size?: number): void {
    const ring = this.#writer();
    writeMessageSync(ring, toBytes(buf, offset, size), this.#abandoned);
  }

  /** Sends any value the codec accepts; an unsendable one is a TypeError and nothing is sent. */
  async send(obj: unknown): Promise<void> {
    const ring = this.#writer();
    const [bytes, undo] = encodeUndoably(() => encode(obj, 'obj'));
    try {
      await writeMessage(ring, bytes, this.#abandoned);
    } catch (err) {
      undo?.(); // (EPIPE: the message was not written whole, so nobody received what it carried)
      throw err;
    }
  }

  sendSync(obj: unknown): void {
    const ring = this.#writer();
    const [bytes, undo] = encodeUndoably(() => encode(obj, 'obj'));
    try {
      writeMessageSync(ring, bytes, this.#abandoned);
    } catch (err) {
      undo?.();
      throw err;
    }
  }

  // ---- receiving -------------------------------------------------------------

  #reader(): Ring {
    if (this.#closed) throw new ProcessError('handle is closed: the connection was closed');
    if (!this.#read) throw new ProcessError('connection is write-only');
    return this.#read;
  }

  /** No message can come any more: every holder of the writing end is gone. */
  #ended = (): boolean => !isHeld(this.#read!.header, WRITER_HOLDERS, WRITER_PENDING);

  async #readMessage(into?: Uint8Array): Promise<Uint8Array> {
    return this.#orEOF(await readMessage(this.#reader(), this.#ended, into));
  }

  #readMessageSync(into?: Uint8Array): Uint8Array {
    return this.#orEOF(readMessageSync(this.#reader(), this.#ended, into));
  }

  #orEOF(bytes: Uint8Array | null): Uint8Array {
    if (!bytes) throw new EOFError('the other end of the pipe was closed and nothing is left to read');
    return bytes;
  }

  async recv<T = unknown>(): Promise<T> {
    return decode<T>(await this.#readMessage());
  }

  recvSync<T = unknown>(): T {
    return decode<T>(this.#readMessageSync());
  }

  /** The next message as bytes; a message longer than `maxlength` is consumed and refused. */
  async recvBytes(maxlength?: number): Promise<Buffer> {
    return this.#limited(await this.#readMessage(), maxlength);
  }

  recvBytesSync(maxlength?: number): Buffer {
    return this.#limited(this.#readMessageSync(), maxlength);
  }

  #limited(bytes: Uint8Array, maxlength: number | undefined): Buffer {
    if (maxlength !== undefined && maxlength < 0) throw new RangeError('negative maxlength');
    if (maxlength !== undefined && bytes.length > maxlength) {
      throw Object.assign(new ProcessError(`bad message length: ${bytes.length} bytes is more than maxlength ${maxlength}`), { data: bytes });
    }
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  /** Reads the next message into `buf` at byte `offset`; returns its length. BufferTooShort (with the message) if it does not fit. */
  async recvBytesInto(buf: ArrayBufferView, offset = 0): Promise<number> {
    const target = this.#intoTarget(buf, offset);
    return this.#copyInto(await this.#readMessage(target), target);
  }

  recvBytesIntoSync(buf: ArrayBufferView, offset = 0): number {
    const target = this.#intoTarget(buf, offset);
    return this.#copyInto(this.#readMessageSync(target), target);
  }

  #intoTarget(buf: ArrayBufferView, offset: number): Uint8Array {
    if (!ArrayBuffer.isView(buf)) throw new TypeError('recvBytesInto needs an ArrayBufferView');
    if (!Number.isInteger(offset) || offset < 0 || offset > buf.byteLength) throw new RangeError('offset is negative or beyond the buffer');
    return new Uint8Array(buf.buffer, buf.byteOffset + offset, buf.byteLength - offset);
  }

  /** A message read into `target` is there already; one that did not fit is refused with BufferTooShort. */
  #copyInto(bytes: Uint8Array, target: Uint8Array): number {
    if (bytes.buffer === target.buffer && bytes.byteOffset === target.byteOffset) return bytes.length;
    if (bytes.length > target.length) throw new BufferTooShort(`the message (${bytes.length} bytes) does not fit the buffer (${target.length} bytes)`, bytes);
    target.set(bytes);
    return bytes.length;
  }

  /** Waits until a message or EOF is there (true) or `deadline` passes (false). */
  *#pollOp(ring: Ring, deadline: number): Operation<boolean> {
    const h = ring.header;
    for (;;) {
      // Tail first: a message arriving after this read changes it, so the sleep below cannot miss it.
      const tail = Atomics.load(h, TAIL);
      if (tail !== Atomics.load(h, HEAD) || this.#ended()) return true;
      if (Date.now() >= deadline) return false;
      yield { i32: h, index: TAIL, expected: tail, ms: sliceUntil(deadline) };
    }
  }

  /** Whether a message (or EOF) is waiting, waiting up to `timeout` ms (default 0; null/Infinity: forever). */
  poll(timeout: number | null = 0): Promise<boolean> {
    return rejecting(() => runAsync(this.#pollOp(this.#reader(), deadlineOf(timeout))));
  }

  pollSync(timeout: number | null = 0): boolean {
    return runSync(this.#pollOp(this.#reader(), deadlineOf(timeout)));
  }

  /** Closes this process's handle only (as Python); the other end sees EOF once every holder closed. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#read) release(this.#read.header, READER_HOLDERS);
    if (this.#write) release(this.#write.header, WRITER_HOLDERS);
    attached.delete(keyOf(this.#read, this.#write));
  }

  [Symbol.dispose](): void {
    this.close();
  }

  [shareable](): HandleData {
    if (this.#closed) throw new ProcessError('cannot send a closed connection');
    const read = this.#read;
    const write = this.#write;
    const data: ConnectionHandle = {
      read: read?.segment.toHandle('a Connection') ?? null,
      write: write?.segment.toHandle('a Connection') ?? null,
    };
    // Pending until the receiver attaches, so the other end sees no EOF
    // meanwhile; no longer pending if the message is not sent after all.
    if (read) Atomics.add(read.header, READER_PENDING, 1);
    if (write) Atomics.add(write.header, WRITER_PENDING, 1);
    undoIfUnsent(() => {
      if (read) Atomics.sub(read.header, READER_PENDING, 1);
      if (write) Atomics.sub(write.header, WRITER_PENDING, 1);
    });
    return { type: 'multiproc.Connection', data };
  }

  /** For wait(): resolves when readable or ended (or after `ms`). */
  _ready(): boolean {
    return this.#read !== null && !this.#closed && (this.#read.hasData() || this.#ended());
  }

  _waitForData(ms: number, signal?: AbortSignal): Promise<unknown> {
    return this.#read ? this.#read.waitForData(ms, signal) : new Promise(() => {});
  }
}

registerHandleType('multiproc.Connection', (data: ConnectionHandle) => {
  const read = data.read ? new Ring(Segment.attach(data.read)) : null;
  const write = data.write ? new Ring(Segment.attach(data.write)) : null;
  const known = attached.get(keyOf(read, write))?.deref();
  const conn = known ?? new Connection({ read, write });
  if (read) Atomics.sub(read.header, READER_PENDING, 1);
  if (write) Atomics.sub(write.header, WRITER_PENDING, 1);
  return conn;
});

/** Python's Pipe(duplex): two connected Connections; one-way when false: [readerEnd, writerEnd]. */
export function Pipe(duplex = true, options: { bufferSize?: number } = {}): [Connection, Connection] {
  const size = options.bufferSize ?? DEFAULT_BUFFER;
  if (!duplex) {
    const ring = Ring.create(size);
    return [new Connection({ read: ring, write: null }), new Connection({ read: null, write: ring })];
  }
  const aToB = Ring.create(size);
  const bToA = Ring.create(size);
  return [new Connection({ read: bToA, write: aToB }), new Connection({ read: aToB, write: bToA })];
}
