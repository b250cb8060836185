// A manager's clients: one per manager in each thread or process that holds
// its proxies. Calls are numbered; the client posts requests in order and
// settles each call when its response comes back, so many calls (a Queue get
// that waits, a Lock acquire, dict sets) can be in flight at once.
//
// Two transports:
// - LocalClient (this machine): requests go into the manager's request ring in
//   shared memory, shared by all local clients; replies come back in a ring of
//   the client's own, which it names in its Hello. A round trip is two ring
//   messages and no system call while both sides are spinning.
// - SocketClient (remote managers): the same messages over a TCP or Unix
//   socket with the authkey handshake (connection/listener.ts).
import { performance } from 'node:perf_hooks';
import { Client, type Address } from '../connection/listener.js';
import type { SocketConnection } from '../connection/socket-connection.js';
import { ProcessError, RemoteError } from '../errors.js';
import { isDead, token } from '../shm/liveness.js';
import { Ring } from '../channel/ring.js';
import type { Segment } from '../shm/segment.js';
import { encodeUndoably } from '../codec/undo.js';
import { CREATE_OID, decodeResponse, encodeRequest, Kind, MANAGER_OID, NEXT_CLIENT, responseCallOf, SERVER_STATE, SHUT_DOWN, type Response } from './protocol.js';
import { readNow, spinForData, writeMessageSync } from '../channel/messages.js';
import { SLICE_MS, SPIN_MS, SPIN_READS_ASYNC, SPIN_READS_SYNC, SpinSpan, spinMs, spinReads } from '../shm/wait-policy.js';
import { BusyWindow } from './busy-loop.js';

/** Where a manager is: what a proxy carries so that any process can reach its manager. */
export interface ManagerInfo {
  /** The manager's id, unique per server. */
  mid: string;
  /** The request ring, for clients on this machine. */
  ring: Segment | null;
  address: Address | null;
  /** hex */
  authkey: string | null;
}

const REPLY_RING = 256 * 1024;
const LIVENESS_MS = 20;

interface Pending {
  resolve(value: unknown): void;
  reject(err: unknown): void;
  /** The call's AbortSignal: a Cancelled answer rejects with its reason. */
  signal?: AbortSignal;
}

/** The client whose response is being decoded: proxies inside it belong to that client (see proxy.ts). */
export let decodingClient: ManagerClient | null = null;

export abstract class ManagerClient {
  readonly info: ManagerInfo;
  /** This client's id on the server. */
  id = 0;
  protected readonly calls = new Map<number, Pending>();
  #nextCall = 1;
  /** The next call id (u32 on the wire; one still waiting is never reused). */
  #callId(): number {
    const call = this.#nextCall;
    do this.#nextCall = this.#nextCall >= 0xffffffff ? 1 : this.#nextCall + 1;
    while (this.calls.has(this.#nextCall));
    return call;
  }
  /** Set once the server is known to be gone: every later call fails with it. */
  protected gone: Error | null = null;

  constructor(info: ManagerInfo) {
    this.info = info;
  }

  /**
   * Calls method `method` of object `oid`; with CREATE_OID, makes an object of
   * typeid `method`; with MANAGER_OID, 'describe's or 'shutdown's the server.
   */
  call(oid: number, method: string, args: unknown[], signal?: AbortSignal): Promise<unknown> {
    try {
      return this.start(oid, method, args, signal);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** call() that throws an unsendable argument's TypeError (or a gone server's error) at once, having sent nothing. */
  start(oid: number, method: string, args: unknown[], signal?: AbortSignal): Promise<unknown> {
    signal?.throwIfAborted();
    let pending!: Pending;
    const done = new Promise((resolve, reject) => (pending = { resolve, reject, signal }));
    const call = this.#post(oid, method, args, pending);
    if (signal) this.#cancelOnAbort(call, pending, signal);
    this.awaitReplies();
    return done;
  }

  /**
   * An abort asks the server to stop waiting; the call then ends with the
   * signal's reason, or with its result if it completed first (nothing it
   * took, an item or a lock, is ever dropped).
   */
  #cancelOnAbort(call: number, pending: Pending, signal: AbortSignal): void {
    const onAbort = () => {
      if (this.calls.has(call)) this.postOneWay(Kind.Cancel, call);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    const { resolve, reject } = pending;
    const forget = () => signal.removeEventListener('abort', onAbort);
    pending.resolve = (v) => (forget(), resolve(v));
    pending.reject = (e) => (forget(), reject(e));
  }

  /**
   * Encodes and posts a call's request, its answer awaited by `pending`, and
   * returns its id. An unsendable argument, or a server known to be gone,
   * throws: then nothing its arguments carry stays in flight.
   */
  #post(oid: number, method: string, args: unknown[], pending: Pending): number {
    const call = this.#callId();
    const [bytes, undo] = encodeUndoably(() => this.#request(call, oid, method, args));
    try {
      this.check();
      this.#send(call, bytes, pending);
    } catch (err) {
      undo?.();
      throw err;
    }
    return call;
  }

  /** Posts a call's request, its answer awaited by `pending`. */
  #send(call: number, bytes: Uint8Array, pending: Pending): void {
    this.calls.set(call, pending);
    try {
      this.post(bytes);
    } catch (err) {
      this.calls.delete(call);
      throw err;
    }
  }

  /** call() that blocks this thread until the answer comes. */
  callSync(oid: number, method: string, args: unknown[], signal?: AbortSignal): unknown {
    signal?.throwIfAborted(); // (nothing can abort a thread that is blocked)
    let outcome: { ok: boolean; value: unknown } | null = null;
    this.#post(oid, method, args, { resolve: (value) => (outcome = { ok: true, value }), reject: (value) => (outcome = { ok: false, value }) });
    this.waitSync(() => outcome !== null);
    const o = outcome as unknown as { ok: boolean; value: unknown };
    if (!o.ok) throw o.value;
    return o.value;
  }

  #request(call: number, oid: number, name: string, args: unknown[]): Uint8Array {
    const client = this.id;
    if (oid === CREATE_OID) return encodeRequest({ kind: Kind.Create, client, call, typeid: name, args });
    if (oid === MANAGER_OID) return encodeRequest({ kind: name === 'shutdown' ? Kind.Shutdown : Kind.Describe, client, call });
    return encodeRequest({ kind: Kind.Call, client, call, oid, method: name, args });
  }

  /** A one-way message: about references (Incref, Adopt, Decref of object `id`), or a Cancel of call `id`. */
  postOneWay(kind: Kind.Incref | Kind.Adopt | Kind.Decref | Kind.Cancel, id: number): void {
    if (this.gone) return;
    try {
      const client = this.id;
      this.post(encodeRequest(kind === Kind.Cancel ? { kind, client, call: id } : { kind, client, oid: id }));
    } catch {
      /* the server is gone: references no longer matter */
    }
  }

  /** Throws if the server is known to be gone. */
  protected check(): void {
    if (this.gone) throw this.gone;
  }

  /** Settles the call a response answers. */
  protected settle(bytes: Uint8Array): void {
    let msg: Response;
    decodingClient = this;
    try {
      msg = decodeResponse(bytes);
    } catch (err) {
      const call = responseCallOf(bytes);
      const pending = this.calls.get(call);
      this.calls.delete(call);
      pending?.reject(err);
      return;
    } finally {
      decodingClient = null;
    }
    if (msg.kind === Kind.Closed) return this.fail(new RemoteError('the manager has shut down'));
    const pending = this.calls.get(msg.call);
    if (!pending) return;
    this.calls.delete(msg.call);
    if (msg.kind === Kind.Result) pending.resolve(msg.value);
    else if (msg.kind === Kind.Fail) pending.reject(msg.value);
    else if (msg.kind === Kind.Cancelled) pending.reject(pending.signal?.reason ?? new RemoteError('the call was cancelled'));
    else {
      const { message, stack } = msg.value as { message: string; stack?: string };
      const err = new RemoteError(message);
      err.remoteStack = stack;
      pending.reject(err);
    }
  }

  /** The server is gone: fails every call waiting and every later one. */
  protected fail(err: Error): void {
    this.gone ??= err;
    for (const p of this.calls.values()) p.reject(this.gone);
    this.calls.clear();
    forget(this);
  }

  /** Writes a request; requests of one client stay in order. */
  protected abstract post(bytes: Uint8Array): void;
  /** Makes sure replies are being read while calls are waiting. */
  protected abstract awaitReplies(): void;
  /** Reads replies, blocking this thread, until `done()`. */
  protected abstract waitSync(done: () => boolean): void;
  abstract close(): void;
}

// ---- this machine: shared-memory rings -------------------------------------

export class LocalClient extends ManagerClient {
  readonly #request: Ring;
  readonly #reply: Ring;
  #pumping = false;
  #livenessCheckedAt = 0;
  #died: Error | null = null;

  constructor(info: ManagerInfo, ring: Segment) {
    super(info);
    this.#request = new Ring(ring);
    this.#reply = Ring.create(REPLY_RING);
    this.id = Atomics.add(this.#request.header, NEXT_CLIENT, 1) + 1;
    // A proxy of a manager that is gone still arrives (a child may receive one late): its calls then fail.
    this.gone = this.#serverGone();
    if (!this.gone) this.post(encodeRequest({ kind: Kind.Hello, client: this.id, hello: { token: token(), reply: this.#reply.segment } }));
  }

  /**
   * Why the server can no longer answer, or null while it serves. Whether its
   * thread is alive can cost a system call (another process's pid), so that
   * is checked at most every LIVENESS_MS; a shutdown is seen at once.
   */
  #serverGone(): Error | null {
    const state = Atomics.load(this.#request.header, SERVER_STATE);
    if (state === SHUT_DOWN) return new RemoteError('the manager has shut down');
    if (state > 0) {
      const now = Date.now();
      if (now - this.#livenessCheckedAt >= LIVENESS_MS) {
        this.#livenessCheckedAt = now;
        if (isDead(state)) this.#died ??= new RemoteError("the manager's server process has died");
      }
    }
    return this.#died;
  }

  #ended = (): boolean => this.#serverGone() !== null;

  protected override check(): void {
    super.check();
    const err = this.#serverGone();
    if (err) {
      this.#failAfterDraining(err);
      throw err;
    }
  }

  protected post(bytes: Uint8Array): void {
    writeMessageSync(this.#request, bytes, () => this.#serverGone());
  }

  /** Settles whatever replies are waiting; true if there were any. */
  #drain(): boolean {
    let any = false;
    for (let bytes = readNow(this.#reply, this.#ended); bytes; bytes = readNow(this.#reply, this.#ended)) {
      this.settle(bytes);
      any = true;
    }
    return any;
  }

  protected awaitReplies(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    void this.#pump();
  }

  /**
   * Reads replies while calls wait: spins briefly (the answer usually comes
   * within microseconds), yields to the event loop after each batch so the
   * callers' continuations run (and post their next calls), and sleeps on the
   * reply ring's tail once nothing came for SPIN_MS.reply.
   */
  async #pump(): Promise<void> {
    try {
      let spinUntil = performance.now() + spinMs(SPIN_MS.reply);
      const span = new SpinSpan();
      while (this.calls.size > 0) {
        if (this.#drain()) {
          span.end(true);
          await null; // let the callers' continuations run
          spinUntil = performance.now() + spinMs(SPIN_MS.reply);
          continue;
        }
        if (performance.now() < spinUntil) {
          span.pass();
          spinForData(this.#reply, SPIN_READS_ASYNC);
          continue;
        }
        span.end(false);
        const err = this.#serverGone();
        if (err) return this.#failAfterDraining(err);
        await this.#reply.waitForData(SLICE_MS);
      }
    } finally {
      this.#pumping = false; // synchronously with the loop's end: a call made right after starts a new pump
    }
  }

  /** The server is gone: replies it wrote before going still settle their calls; the rest fail. */
  #failAfterDraining(err: Error): void {
    this.#drain();
    this.fail(err);
  }

  protected waitSync(done: () => boolean): void {
    while (!done()) {
      spinForData(this.#reply, spinReads(SPIN_READS_SYNC));
      if (this.#drain()) continue;
      const err = this.#serverGone();
      if (err) return this.#failAfterDraining(err);
      const bytes = this.#reply.readSync(Date.now() + SLICE_MS, this.#ended);
      if (bytes) this.settle(bytes);
    }
  }

  close(): void {
    forget(this);
  }
}

// ---- remote: a socket ------------------------------------------------------------

/** How long a socket client keeps its event loop turning after a request or a reply, while answers are awaited. */
const BUSY_MS = 0.3;

export class SocketClient extends ManagerClient {
  readonly #conn: SocketConnection;
  readonly #busy = new BusyWindow();

  private constructor(info: ManagerInfo, conn: SocketConnection) {
    super(info);
    this.#conn = conn;
    this.#conn.unref();
    void this.#readLoop();
  }

  static async connect(info: ManagerInfo): Promise<SocketClient> {
    const conn = await Client(info.address!, { authkey: info.authkey === null ? null : Buffer.from(info.authkey, 'hex') });
    return new SocketClient(info, conn);
  }

  async #readLoop(): Promise<void> {
    for (;;) {
      let bytes: Buffer;
      try {
        bytes = await this.#conn.recvBytes();
      } catch (err) {
        const why = err instanceof ProcessError && /closed/.test(err.message) ? 'the manager closed the connection' : (err as Error).message;
        return this.fail(new RemoteError(`lost the connection to the manager at ${JSON.stringify(this.info.address)}: ${why}`));
      }
      this.settle(bytes);
      if (this.calls.size === 0) this.#conn.unref();
      else this.#busy.extend(BUSY_MS);
    }
  }

  protected post(bytes: Uint8Array): void {
    // Socket writes keep their order; a failed one also ends the read loop, which fails the calls.
    this.#conn.sendBytes(bytes).catch(() => {});
  }

  protected awaitReplies(): void {
    this.#conn.ref(); // a call waiting keeps the program alive, as any pending I/O
    this.#busy.extend(BUSY_MS);
  }

  protected waitSync(): void {
    throw new ProcessError('proxies of a remote manager (reached over a socket) are asynchronous: use the async methods');
  }

  override callSync(): never {
    this.waitSync();
    throw new Error('unreachable');
  }

  close(): void {
    forget(this);
    this.#conn.close();
  }
}

// ---- one client per manager per thread -------------------------------------------

const localClients = new Map<string, ManagerClient>();
const socketClients = new Map<string, ManagerClient>();
const connecting = new Map<string, Promise<ManagerClient>>();

function forget(client: ManagerClient): void {
  for (const map of [localClients, socketClients]) if (map.get(client.info.mid) === client) map.delete(client.info.mid);
}

/** This thread's shared-memory client of the manager `info` names, or null when it has no ring to reach. */
export function localClientFor(info: ManagerInfo): ManagerClient | null {
  if (!info.ring) return socketClients.get(info.mid) ?? null;
  let client = localClients.get(info.mid);
  // Proxies of a local client need no authkey (the ring is reached through shared memory): they carry none.
  if (!client) localClients.set(info.mid, (client = new LocalClient({ ...info, authkey: null }, info.ring)));
  return client;
}

/** This thread's client of the manager `info` names: shared memory where it can, else its socket. */
export async function clientFor(info: ManagerInfo): Promise<ManagerClient> {
  const local = localClientFor(info);
  if (local) return local;
  if (!info.address) throw new RemoteError('this manager has neither a shared-memory channel here nor an address to connect to');
  let pending = connecting.get(info.mid);
  if (!pending) {
    pending = SocketClient.connect(info).then((c) => {
      socketClients.set(info.mid, c);
      return c;
    });
    connecting.set(info.mid, pending);
    void pending.catch(() => {}).finally(() => connecting.delete(info.mid));
  }
  return pending;
}

/** A socket client of its own (BaseManager.connect()); proxies arriving later reuse it unless shared memory reaches the manager. */
export async function connectClient(info: ManagerInfo): Promise<ManagerClient> {
  const client = await SocketClient.connect(info);
  if (!socketClients.has(info.mid)) socketClients.set(info.mid, client);
  return client;
}
