// A Connection over a TCP or Unix socket, in the wire format of Python's
// multiprocessing.connection: each message is a 4-byte big-endian signed
// length and the bytes; a message of 2 GiB or more has the length -1 and then
// an 8-byte big-endian length. sendBytes/recvBytes talk to Python's
// send_bytes/recv_bytes; send/recv carry multiproc's codec (Python's carry
// pickles, so objects only pass between multiproc programs).
//
// A peer that sends garbage (a negative length, or more than maxMessageSize)
// gets its connection closed with an error; nothing else is affected.
// Sockets are asynchronous in Node, so the Sync methods are not available here.
import type { Socket } from 'node:net';
import { decode, encode } from '../codec/codec.js';
import { BufferTooShort, EOFError, ProcessError } from '../errors.js';

export const DEFAULT_MAX_MESSAGE = 512 * 1024 * 1024;

interface Waiter {
  resolve(message: Buffer | null): void;
  reject(err: Error): void;
}

export class SocketConnection {
  readonly #socket: Socket;
  readonly #maxMessage: number;
  #buffer: Buffer = Buffer.alloc(0);
  readonly #messages: Buffer[] = [];
  readonly #waiters: Waiter[] = [];
  #ended = false;
  #error: Error | null = null;
  #closed = false;

  constructor(socket: Socket, options: { maxMessageSize?: number } = {}) {
    this.#socket = socket;
    this.#maxMessage = options.maxMessageSize ?? DEFAULT_MAX_MESSAGE;
    socket.setNoDelay?.(true);
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('end', () => this.#onEnd());
    socket.on('close', () => this.#onEnd());
    socket.on('error', (err) => this.#fail(err));
  }

  readonly readable = true;
  readonly writable = true;

  get closed(): boolean {
    return this.#closed;
  }

  /** The peer's address, as Node reports it. */
  get remoteAddress(): string | undefined {
    return this.#socket.remoteAddress;
  }

  // ---- framing ---------------------------------------------------------------

  #onData(chunk: Buffer): void {
    this.#buffer = this.#buffer.length ? Buffer.concat([this.#buffer, chunk]) : chunk;
    for (;;) {
      if (this.#buffer.length < 4) return;
      let length = this.#buffer.readInt32BE(0);
      let headerSize = 4;
      if (length === -1) {
        if (this.#buffer.length < 12) return;
        length = Number(this.#buffer.readBigUInt64BE(4));
        headerSize = 12;
      } else if (length < 0) {
        return this.#fail(new ProcessError(`protocol error: the peer sent a negative message length (${length})`));
      }
      if (length > this.#maxMessage) {
        return this.#fail(new ProcessError(`protocol error: the peer sent a ${length}-byte message, over the limit of ${this.#maxMessage} bytes`));
      }
      if (this.#buffer.length < headerSize + length) return;
      const message = Buffer.from(this.#buffer.subarray(headerSize, headerSize + length));
      this.#buffer = this.#buffer.subarray(headerSize + length);
      this.#deliver(message);
    }
  }

  #deliver(message: Buffer | null): void {
    const waiter = this.#waiters.shift();
    if (waiter) waiter.resolve(message);
    else if (message) this.#messages.push(message);
  }

  #onEnd(): void {
    if (this.#ended) return;
    this.#ended = true;
    while (this.#waiters.length) this.#deliver(null);
  }

  #fail(err: Error): void {
    if (this.#error) return;
    this.#error = err;
    this.#ended = true;
    this.#socket.destroy();
    for (const w of this.#waiters.splice(0)) w.reject(err);
  }

  #next(): Promise<Buffer | null> {
    if (this.#closed) return Promise.reject(new ProcessError('handle is closed: the connection was closed'));
    const message = this.#messages.shift();
    if (message) return Promise.resolve(message);
    if (this.#error) return Promise.reject(this.#error);
    if (this.#ended) return Promise.resolve(null);
    return new Promise((resolve, reject) => this.#waiters.push({ resolve, reject }));
  }

  // ---- the Connection API ------------------------------------------------------

  async sendBytes(buf: ArrayBufferView | ArrayBuffer, offset = 0, size?: number): Promise<void> {
    if (this.#closed) throw new ProcessError('handle is closed: the connection was closed');
    if (this.#error) throw this.#error;
    const bytes = ArrayBuffer.isView(buf) ? Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength) : Buffer.from(buf);
    const n = size ?? bytes.length - offset;
    if (offset < 0 || n < 0 || offset + n > bytes.length) throw new RangeError('offset or size is beyond the buffer');
    let header: Buffer;
    if (n > 0x7fffffff) {
      header = Buffer.alloc(12);
      header.writeInt32BE(-1, 0);
      header.writeBigUInt64BE(BigInt(n), 4);
    } else {
      header = Buffer.alloc(4);
      header.writeInt32BE(n, 0);
    }
    const body = bytes.subarray(offset, offset + n);
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error | null) => (err ? reject(err) : resolve());
      if (n < 65536) this.#socket.write(Buffer.concat([header, body]), done); // one write for small messages
      else {
        this.#socket.write(header);
        this.#socket.write(body, done);
      }
    });
  }

  async recvBytes(maxlength?: number): Promise<Buffer> {
    const message = await this.#next();
    if (!message) throw new EOFError('the other end closed the connection');
    if (maxlength !== undefined && message.length > maxlength) {
      const err = Object.assign(new ProcessError(`bad message length: ${message.length} bytes is more than maxlength ${maxlength}`), { data: message });
      this.#fail(err);
      throw err;
    }
    return message;
  }

  async recvBytesInto(buf: ArrayBufferView, offset = 0): Promise<number> {
    const message = await this.recvBytes();
    const target = new Uint8Array(buf.buffer, buf.byteOffset + offset, buf.byteLength - offset);
    if (message.length > target.length) throw new BufferTooShort(`the message (${message.length} bytes) does not fit the buffer (${target.length} bytes)`, message);
    target.set(message);
    return message.length;
  }

  async send(obj: unknown): Promise<void> {
    await this.sendBytes(encode(obj, 'obj'));
  }

  async recv<T = unknown>(): Promise<T> {
    return decode<T>(await this.recvBytes());
  }

  /** Whether a message (or EOF) is waiting, waiting up to `timeout` ms (null: forever). */
  async poll(timeout: number | null = 0): Promise<boolean> {
    if (this.#messages.length || this.#ended) return true;
    if (timeout !== null && timeout <= 0) return false;
    return new Promise((resolve) => {
      const timer = timeout === null ? undefined : setTimeout(() => done(false), timeout);
      const done = (ready: boolean) => {
        clearTimeout(timer);
        this.#socket.off('data', onData);
        this.#socket.off('close', onEnd);
        resolve(ready);
      };
      const onData = () => setImmediate(() => (this.#messages.length || this.#ended) && done(true));
      const onEnd = () => done(true);
      this.#socket.on('data', onData);
      this.#socket.on('close', onEnd);
    });
  }

  /** Lets the program exit while this connection is open and idle (Node's socket.unref()). */
  unref(): void {
    this.#socket.unref();
  }

  /** Keeps the program alive while this connection is open (the default). */
  ref(): void {
    this.#socket.ref();
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#socket.end();
    this.#socket.destroySoon?.();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #syncUnsupported(): never {
    throw new ProcessError('socket connections are asynchronous: use the async methods (await conn.recv())');
  }
  sendSync(_obj: unknown): never {
    this.#syncUnsupported();
  }
  recvSync(): never {
    this.#syncUnsupported();
  }
  sendBytesSync(_buf: ArrayBufferView): never {
    this.#syncUnsupported();
  }
  recvBytesSync(): never {
    this.#syncUnsupported();
  }
  pollSync(): never {
    this.#syncUnsupported();
  }
}
