// Listener and Client: Python's multiprocessing.connection.Listener/Client,
// over TCP ([host, port]) or a Unix socket (a filesystem path), with the
// authkey handshake of auth.ts in both directions (the listener challenges
// first, then answers; the client the other way round), so either side can
// be a Python program.
import net from 'node:net';
import fs from 'node:fs';
import { AuthenticationError } from '../errors.js';
import { answerChallenge, deliverChallenge, toAuthkey } from './auth.js';
import { SocketConnection } from './socket-connection.js';

export type Address = [host: string, port: number] | string;

export interface ListenerOptions {
  /** [host, port] for TCP (port 0: any free port), or a path for a Unix socket. Default ['127.0.0.1', 0]. */
  address?: Address;
  /** Both ends must know it; a wrong key fails with AuthenticationError on both sides. */
  authkey?: Uint8Array | string | null;
  /** 'AF_INET' | 'AF_INET6' | 'AF_UNIX'; inferred from the address. */
  family?: 'AF_INET' | 'AF_INET6' | 'AF_UNIX';
  backlog?: number;
  /** Messages larger than this close the connection (default 512 MiB). */
  maxMessageSize?: number;
  /** A client that has not finished the authkey handshake after this many ms is refused (default: no limit, as Python). */
  handshakeTimeout?: number;
}

function checkAddress(address: unknown): Address {
  if (typeof address === 'string') return address;
  if (Array.isArray(address) && address.length === 2 && typeof address[0] === 'string' && Number.isInteger(address[1])) {
    return [address[0], address[1]];
  }
  throw new TypeError('address must be [host, port] or a Unix socket path');
}

async function handshake(conn: SocketConnection, authkey: Buffer | null, listenerSide: boolean, timeoutMs?: number): Promise<SocketConnection> {
  if (!authkey) return conn;
  // A peer that stalls is cut off: its connection closes, which fails the exchange below.
  const timer = timeoutMs === undefined ? undefined : setTimeout(() => conn.close(), timeoutMs);
  try {
    if (listenerSide) {
      await deliverChallenge(conn, authkey);
      await answerChallenge(conn, authkey);
    } else {
      await answerChallenge(conn, authkey);
      await deliverChallenge(conn, authkey);
    }
    return conn;
  } catch (err) {
    conn.close();
    if (err instanceof AuthenticationError) throw err;
    throw new AuthenticationError(`authentication failed: ${(err as Error).message}`, { cause: err });
  } finally {
    clearTimeout(timer);
  }
}

export class Listener {
  /** Resolves when bound (then `address` has the real port); rejects with the bind error. */
  readonly ready: Promise<void>;
  readonly #server: net.Server;
  readonly #authkey: Buffer | null;
  readonly #maxMessage: number | undefined;
  readonly #handshakeTimeout: number | undefined;
  readonly #requested: Address;
  readonly #sockets: net.Socket[] = [];
  readonly #acceptors: ((socket: net.Socket | Error) => void)[] = [];
  #bindError: Error | null = null;
  #closed = false;

  constructor(options: ListenerOptions = {}) {
    this.#requested = checkAddress(options.address ?? ['127.0.0.1', 0]);
    this.#authkey = toAuthkey(options.authkey);
    this.#maxMessage = options.maxMessageSize;
    this.#handshakeTimeout = options.handshakeTimeout;
    this.#server = net.createServer((socket) => {
      const acceptor = this.#acceptors.shift();
      if (acceptor) acceptor(socket);
      else this.#sockets.push(socket);
    });
    this.#server.on('error', (err) => {
      this.#bindError ??= err;
      for (const a of this.#acceptors.splice(0)) a(err);
    });
    this.ready = new Promise((resolve, reject) => {
      this.#server.once('listening', () => resolve());
      this.#server.once('error', reject);
    });
    this.ready.catch(() => {}); // surfaced through accept() too
    const addr = this.#requested;
    if (typeof addr === 'string') this.#server.listen({ path: addr, backlog: options.backlog });
    else this.#server.listen({ host: addr[0], port: addr[1], backlog: options.backlog });
  }

  /** The bound address: [host, port] (the real port once ready) or the socket path. */
  get address(): Address {
    const a = this.#server.address();
    if (a && typeof a === 'object') return [a.address, a.port];
    return this.#requested;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The next client, authenticated; AuthenticationError for a client with a wrong key (the listener carries on). */
  async accept(): Promise<SocketConnection> {
    if (this.#closed) throw new Error('the listener is closed');
    await this.ready;
    const socket =
      this.#sockets.shift() ??
      (await new Promise<net.Socket>((resolve, reject) => this.#acceptors.push((s) => (s instanceof Error ? reject(s) : resolve(s)))));
    return handshake(new SocketConnection(socket, { maxMessageSize: this.#maxMessage }), this.#authkey, true, this.#handshakeTimeout);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#server.close();
    for (const s of this.#sockets.splice(0)) s.destroy();
    for (const a of this.#acceptors.splice(0)) a(new Error('the listener is closed'));
    if (typeof this.#requested === 'string' && !this.#bindError) fs.rmSync(this.#requested, { force: true });
  }

  [Symbol.dispose](): void {
    this.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }
}

/** Connects to a Listener (or a Python one) and authenticates when an authkey is given. */
export async function Client(address: Address, options: { authkey?: Uint8Array | string | null; maxMessageSize?: number } = {}): Promise<SocketConnection> {
  const addr = checkAddress(address);
  const authkey = toAuthkey(options.authkey);
  const socket = await new Promise<net.Socket>((resolve, reject) => {
    const s = typeof addr === 'string' ? net.connect({ path: addr }) : net.connect({ host: addr[0], port: addr[1] });
    s.once('connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
  return handshake(new SocketConnection(socket, { maxMessageSize: options.maxMessageSize }), authkey, false);
}
