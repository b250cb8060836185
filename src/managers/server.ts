// A manager's server: it owns the shared objects (referents) and answers
// the calls of every client, local (the request ring in shared memory) and
// remote (sockets with the authkey handshake).
//
// It is one thread. A call whose referent returns a value is answered at
// once; one that returns a Promise (a Queue get, a Lock acquire that waits)
// is answered when it settles, and the server goes on serving meanwhile.
//
// References: an object lives while references to it exist. refs counts them
// all: each client's (the proxies it holds, tallied per client so a dead
// client's are dropped) plus those in flight — a proxy being sent somewhere
// adds one (Incref) that its receiver takes over (Adopt). A proxy that is
// released, or collected, gives its reference back (Decref).
//
// Client failures are contained: a client that dies mid-call, sends garbage
// or stops reading its replies only loses its own calls; the server drops it
// and keeps serving the others.
import { performance } from 'node:perf_hooks';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { Listener, type Address } from '../connection/listener.js';
import type { SocketConnection } from '../connection/socket-connection.js';
import { shareable, type HandleData } from '../codec/handles.js';
import { undoIfUnsent } from '../codec/undo.js';
import { isDead, token } from '../shm/liveness.js';
import { tryLock, unlock } from '../shm/mutex.js';
import { PUT_MUTEX, Ring } from '../channel/ring.js';
import { wake } from '../shm/wait.js';
import type { Segment } from '../shm/segment.js';
import type { ManagerInfo } from './client.js';
import { callIdOf, clientIdOf, decodeRequest, encodeResponse, Kind, SERVER_STATE, SHUT_DOWN, type Request, type Response } from './protocol.js';
import { readNow, spinForData, writeMessage } from '../channel/messages.js';
import { SLICE_MS, SPIN_MS, SpinSpan, spinMs } from '../shm/wait-policy.js';
import { asCaller, CallCancelled, cancelCall, onClientGone, type ClientScope } from './waiters.js';
import { BusyWindow } from './busy-loop.js';
import { explainTaskError, loadTask, type TaskSpec } from '../process/task.js';
import { state } from '../process/state.js';

/** How a typeid's objects are made and what their proxies may call. */
export interface TypeSpec {
  /** A function, or a task the server loads (a function's source, or a module export); null: cannot make objects. */
  callable: ((...args: any[]) => unknown) | TaskSpec | null;
  /** Method names proxies may call; null: every public method of the object. */
  exposed: readonly string[] | null;
  /** Methods whose results are returned as proxies of these typeids. */
  methodToTypeid: Readonly<Record<string, string>> | null;
}

export interface ProxyRef {
  oid: number;
  typeid: string;
  exposed: string[];
}

interface Entry {
  obj: any;
  typeid: string;
  exposed: Set<string>;
  methodToTypeid: Readonly<Record<string, string>> | null;
  refs: number;
}

interface ClientRecord {
  id: number;
  /** Local clients: the liveness token of the client's thread, and its reply ring. */
  token: number;
  reply: Ring | null;
  socket: SocketConnection | null;
  /** References this client holds, per object. */
  tallies: Map<number, number>;
  /** Replies waiting for room in the reply ring, in order. */
  backlog: Uint8Array[];
  gone: boolean;
}

/** The server's own client id: references held by objects inside the server (nested proxies). */
const SELF = 0;
/** Reads of the ring's tail per turn of the spinning loop. */
const SPIN = 500;
/** While spinning, the event loop (sockets, timers) still gets a turn this often. */
const YIELD_MS = 1;
const SWEEP_MS = 500;
/** Remote clients must finish the authkey handshake this fast; this many handshakes run at once. */
const HANDSHAKE_MS = 10_000;
const ACCEPTORS = 4;
/** After a socket request the event loop keeps turning this long (see busy-loop.ts). */
const BUSY_MS = 0.3;

/** Set while a reply is being encoded. */
let encodingReply = false;

/** Servers running in this thread, by manager id: a proxy of one of them decodes here as a ServerRef. */
export const localServers = new Map<string, Server>();

/**
 * A reference to one of this server's objects, held inside the server (a
 * proxy stored in a dict, the lock of a Condition). Sent anywhere, it arrives
 * as a proxy of the object.
 */
export class ServerRef {
  constructor(
    readonly server: Server,
    readonly oid: number,
  ) {}

  /** The referent. */
  get target(): unknown {
    return this.server._entry(this.oid)?.obj;
  }

  [shareable](): HandleData {
    return this.server._refHandle(this.oid);
  }
}

const heldRefs = new FinalizationRegistry<{ server: Server; oid: number }>(({ server, oid }) => server._decref(SELF, oid));

function publicMethods(obj: object): string[] {
  const names = new Set<string>();
  for (let o: object | null = obj; o && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
    for (const name of Object.getOwnPropertyNames(o)) {
      if (name === 'constructor' || name.startsWith('_') || name.endsWith('Sync')) continue;
      const desc = Object.getOwnPropertyDescriptor(o, name);
      if (desc && typeof desc.value === 'function') names.add(name);
    }
  }
  return [...names];
}

function remote(call: number, message: string, stack?: string): Response {
  return { kind: Kind.Remote, call, value: { message, stack } };
}

export interface ServerOptions {
  mid: string;
  registry: Map<string, TypeSpec>;
  /** The request ring of local clients (null: sockets only). */
  ring: Segment | null;
  /** Where to listen for remote clients (null: nowhere). */
  address: Address | null;
  authkey: Buffer | null;
}

export class Server {
  readonly mid: string;
  readonly #registry: Map<string, TypeSpec>;
  /** Task callables, once loaded. */
  readonly #loaded = new Map<string, (...args: unknown[]) => unknown>();
  readonly #objects = new Map<number, Entry>();
  #nextOid = 1;
  readonly #clients = new Map<number, ClientRecord>();
  #nextSocketClient = -1;
  readonly #ring: Ring | null;
  readonly #listener: Listener | null;
  #stopped = false;
  #stop!: () => void;
  readonly #done = new Promise<void>((resolve) => (this.#stop = resolve));
  #serving = false;
  /** Remote clients connected now: while there are any, the spinning ring loop lets the event loop turn on every pass. */
  #sockets = 0;
  readonly #busy = new BusyWindow();
  /** What this server's referents know of its clients (see waiters.ts). */
  readonly #scope: ClientScope = { isAlive: (id) => this.#isAlive(id), cancellers: new Map() };

  constructor(options: ServerOptions) {
    this.mid = options.mid;
    this.#registry = options.registry;
    this.#ring = options.ring ? new Ring(options.ring) : null;
    this.#listener = options.address ? new Listener({ address: options.address, authkey: options.authkey, handshakeTimeout: HANDSHAKE_MS }) : null;
    localServers.set(this.mid, this);
  }

  /** Resolves once the server listens (if it has an address); rejects with the bind error. */
  get ready(): Promise<void> {
    return this.#listener ? this.#listener.ready : Promise.resolve();
  }

  /** The address it listens on (the real port once ready), or null. */
  get address(): Address | null {
    return this.#listener?.address ?? null;
  }

  /** Where to reach this server, as proxies it sends out carry it (to this machine: no authkey). */
  get info(): ManagerInfo {
    return { mid: this.mid, ring: this.#ring?.segment ?? null, address: this.address, authkey: null };
  }

  /** Serves until shutdown(); resolves then. */
  async serveForever(): Promise<void> {
    if (this.#serving) throw new Error('the server is already serving');
    this.#serving = true;
    await this.ready;
    const sweep = setInterval(() => this.#sweep(), SWEEP_MS);
    sweep.unref();
    if (this.#ring) {
      Atomics.store(this.#ring.header, SERVER_STATE, token());
      wake(this.#ring.header, SERVER_STATE);
      void this.#serveRing();
    }
    // Several handshakes at once: a peer that connects and stalls holds up one of them, for HANDSHAKE_MS at most.
    for (let i = 0; i < ACCEPTORS && this.#listener; i++) void this.#acceptLoop(this.#listener);
    try {
      await this.#done;
    } finally {
      clearInterval(sweep);
    }
  }

  /** Stops serving: calls still waiting fail with RemoteError in their clients. */
  shutdown(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#ring) {
      Atomics.store(this.#ring.header, SERVER_STATE, SHUT_DOWN);
      wake(this.#ring.header, SERVER_STATE);
    }
    for (const c of this.#clients.values()) {
      this.#send(c, encodeResponse({ kind: Kind.Closed, call: 0, value: undefined }));
      c.socket?.close();
    }
    this.#listener?.close();
    localServers.delete(this.mid);
    this.#stop();
  }

  // ---- transports ---------------------------------------------------------------

  /** Serves the request ring: spin while busy, sleep on the ring when idle (see SPIN_MS.requests). */
  async #serveRing(): Promise<void> {
    const ring = this.#ring!;
    const ended = () => this.#stopped;
    let lastRequest = performance.now();
    let lastYield = lastRequest;
    const span = new SpinSpan();
    while (!this.#stopped) {
      const bytes = readNow(ring, ended);
      if (bytes) {
        span.end(true);
        this.#onLocalRequest(bytes);
        lastRequest = performance.now();
        continue;
      }
      await null; // replies of calls that settled meanwhile
      const now = performance.now();
      if (now - lastRequest < spinMs(SPIN_MS.requests)) {
        span.pass();
        spinForData(ring, SPIN);
        if (this.#sockets > 0 || now - lastYield > YIELD_MS) {
          await yieldToEventLoop();
          lastYield = performance.now();
        }
        continue;
      }
      span.end(false);
      await ring.waitForData(SLICE_MS); // (wakes when a request arrives, else after a slice to re-check)
      lastYield = performance.now();
    }
  }

  #onLocalRequest(bytes: Uint8Array): void {
    let req: Request;
    try {
      req = decodeRequest(bytes);
    } catch (err) {
      const id = clientIdOf(bytes);
      const c = id === null ? undefined : this.#clients.get(id);
      if (c) this.#reply(c, remote(callIdOf(bytes), (err as Error).message));
      return;
    }
    if (req.kind === Kind.Hello) return this.#hello(req.client, req.hello.token, req.hello.reply);
    const c = this.#clients.get(req.client);
    if (c) this.#handle(c, req); // (a client that never said Hello has nowhere to be answered)
  }

  #hello(id: number, clientToken: number, reply: Segment): void {
    this.#clients.set(id, { id, token: clientToken, reply: new Ring(reply), socket: null, tallies: new Map(), backlog: [], gone: false });
  }

  async #acceptLoop(listener: Listener): Promise<void> {
    while (!this.#stopped) {
      let conn: SocketConnection;
      try {
        conn = await listener.accept();
      } catch {
        if (listener.closed) return;
        continue; // a client with a wrong authkey (refused by the handshake) or a broken connection
      }
      const c: ClientRecord = { id: this.#nextSocketClient--, token: 0, reply: null, socket: conn, tallies: new Map(), backlog: [], gone: false };
      this.#clients.set(c.id, c);
      this.#sockets++;
      void this.#serveSocket(c, conn).finally(() => this.#sockets--);
    }
  }

  async #serveSocket(c: ClientRecord, conn: SocketConnection): Promise<void> {
    for (;;) {
      let bytes: Buffer;
      try {
        bytes = await conn.recvBytes();
      } catch {
        return this.#dropClient(c); // EOF, or a peer that sent garbage framing
      }
      if (bytes[0] === Kind.Hello) {
        this.#reply(c, remote(0, 'Hello is for clients on the same machine')); // (refused before its body is decoded)
        continue;
      }
      let req: Request;
      try {
        req = decodeRequest(bytes);
      } catch (err) {
        this.#reply(c, remote(callIdOf(bytes), (err as Error).message));
        continue;
      }
      this.#handle(c, { ...req, client: c.id } as Request);
      this.#busy.extend(BUSY_MS); // the client's next request usually follows its reply within microseconds
    }
  }

  // ---- replies --------------------------------------------------------------------

  #reply(c: ClientRecord, msg: Response): void {
    encodingReply = true; // proxies in it belong to its receiver (see _refHandle)
    try {
      this.#send(c, encodeResponse(msg));
    } finally {
      encodingReply = false;
    }
  }

  #send(c: ClientRecord, bytes: Uint8Array): void {
    if (c.gone) return;
    if (c.socket) {
      c.socket.sendBytes(bytes).catch(() => this.#dropClient(c));
      return;
    }
    const ring = c.reply!;
    if (c.backlog.length === 0) {
      if (tryLock(ring.header, PUT_MUTEX) !== 'timeout') {
        try {
          if (ring.tryWrite(bytes)) return;
        } finally {
          unlock(ring.header, PUT_MUTEX);
        }
      }
      c.backlog.push(bytes);
      void this.#flush(c);
    } else c.backlog.push(bytes);
  }

  /** Writes a client's backlog as its reply ring frees up, without holding up the others. */
  async #flush(c: ClientRecord): Promise<void> {
    const abandoned = () => (isDead(c.token) ? new Error('client gone') : null);
    try {
      while (c.backlog.length > 0 && !c.gone) {
        await writeMessage(c.reply!, c.backlog[0], abandoned);
        c.backlog.shift();
      }
    } catch {
      this.#dropClient(c);
    }
  }

  // ---- requests -------------------------------------------------------------------

  #handle(c: ClientRecord, req: Request): void {
    switch (req.kind) {
      case Kind.Call:
        return this.#call(c, req.call, req.oid, req.method, req.args);
      case Kind.Create:
        return this.#create(c, req.call, req.typeid, req.args);
      case Kind.Incref: {
        const entry = this.#objects.get(req.oid);
        if (entry) entry.refs++;
        return;
      }
      case Kind.Adopt:
        return this.#adopt(req.oid, c.tallies);
      case Kind.Decref:
        return this._decref(c.id, req.oid);
      case Kind.Describe:
        return this.#reply(c, { kind: Kind.Result, call: req.call, value: { mid: this.mid, typeids: [...this.#registry.keys()], objects: this.#objects.size } });
      case Kind.Shutdown:
        this.#reply(c, { kind: Kind.Result, call: req.call, value: undefined });
        return this.shutdown();
      case Kind.Cancel:
        return void cancelCall(this.#scope, c.id, req.call); // (a call that is done, or not waiting, runs on)
    }
  }

  #settle(c: ClientRecord, call: number, result: unknown, toTypeid: string | undefined): void {
    const failed = (err: unknown) =>
      this.#reply(c, err instanceof CallCancelled ? { kind: Kind.Cancelled, call, value: undefined } : { kind: Kind.Fail, call, value: err });
    const answer = (value: unknown) => {
      if (c.gone) return; // (no object is made for a client that is gone: nobody would hold it)
      try {
        if (toTypeid !== undefined) value = this.#register(value, toTypeid);
      } catch (err) {
        return failed(err);
      }
      this.#reply(c, { kind: Kind.Result, call, value });
    };
    if (result !== null && typeof (result as Promise<unknown>)?.then === 'function') (result as Promise<unknown>).then(answer, failed);
    else answer(result);
  }

  #call(c: ClientRecord, call: number, oid: number, method: string, args: unknown[]): void {
    const entry = this.#objects.get(oid);
    if (!entry) return this.#reply(c, remote(call, `no shared object with id ${oid} (it was released, or never made)`));
    if (!entry.exposed.has(method)) {
      return this.#reply(c, remote(call, `'${method}' is not exposed by ${entry.typeid} objects (exposed: ${[...entry.exposed].join(', ')})`));
    }
    let result: unknown;
    try {
      const member = entry.obj[method];
      result = typeof member === 'function' ? asCaller(this.#scope, c.id, call, () => member.apply(entry.obj, args)) : member;
    } catch (err) {
      return this.#reply(c, { kind: Kind.Fail, call, value: err });
    }
    const toTypeid = entry.methodToTypeid && Object.hasOwn(entry.methodToTypeid, method) ? entry.methodToTypeid[method] : undefined;
    this.#settle(c, call, result, toTypeid);
  }

  #create(c: ClientRecord, call: number, typeid: string, args: unknown[]): void {
    const spec = this.#registry.get(typeid);
    if (!spec) return this.#reply(c, remote(call, `unknown typeid '${typeid}' (registered: ${[...this.#registry.keys()].join(', ')})`));
    const { callable } = spec;
    if (!callable) return this.#reply(c, remote(call, `typeid '${typeid}' was registered without a callable here, so it cannot make objects`));
    const fn = typeof callable === 'function' ? callable : this.#loaded.get(typeid);
    if (!fn) {
      // A task: loaded once (the first create waits for it), then called as a function.
      loadTask(callable as TaskSpec, state.entry).then(
        (loaded) => {
          this.#loaded.set(typeid, loaded);
          this.#create(c, call, typeid, args);
        },
        (err) => this.#reply(c, { kind: Kind.Fail, call, value: err }),
      );
      return;
    }
    let result: unknown;
    try {
      result = asCaller(this.#scope, c.id, call, () => fn(...args));
    } catch (err) {
      const explained = typeof callable === 'function' ? err : explainTaskError(err, callable as TaskSpec);
      return this.#reply(c, { kind: Kind.Fail, call, value: explained });
    }
    this.#settle(c, call, result, typeid);
  }

  /** Adds an object to the table; the result is what answers its creator (a proxy on arrival). */
  #register(obj: unknown, typeid: string): ServerRef {
    if (obj === null || (typeof obj !== 'object' && typeof obj !== 'function')) {
      throw new TypeError(`the callable of '${typeid}' returned ${obj === null ? 'null' : typeof obj}, not an object to share`);
    }
    const spec = this.#registry.get(typeid);
    const exposed = spec?.exposed ?? publicMethods(obj);
    const oid = this.#nextOid;
    do this.#nextOid = this.#nextOid >= 0xffffffff ? 1 : this.#nextOid + 1; // (u32 ids; a live one is never reused)
    while (this.#objects.has(this.#nextOid));
    this.#objects.set(oid, {
      obj,
      typeid,
      exposed: new Set(exposed), // an explicit list may name '_' methods (as Python); publicMethods() never does
      methodToTypeid: spec?.methodToTypeid ?? null,
      refs: 0,
    });
    return new ServerRef(this, oid);
  }

  // ---- references -----------------------------------------------------------------

  _entry(oid: number): Entry | undefined {
    return this.#objects.get(oid);
  }

  /** The handle of a proxy of `oid`, for sending it: one reference goes in flight. */
  _refHandle(oid: number): HandleData {
    const entry = this.#objects.get(oid);
    if (!entry) throw new TypeError(`shared object ${oid} no longer exists`);
    entry.refs++;
    undoIfUnsent(() => this._decref(SELF, oid)); // (the message carrying it was not sent)
    const ref: ProxyRef = { oid, typeid: entry.typeid, exposed: [...entry.exposed] };
    // In a reply, the receiving client reaches this server already; anywhere else the proxy carries where it is.
    return { type: 'multiproc.ManagerProxy', data: { manager: encodingReply ? null : this.info, ref } };
  }

  /** A proxy of this server's arrived in its own thread: the server holds the reference. */
  _adoptHere(oid: number): ServerRef {
    const ref = new ServerRef(this, oid);
    this.#adopt(oid, null);
    heldRefs.register(ref, { server: this, oid });
    return ref;
  }

  /** A reference in flight now belongs to a client (refs is unchanged); the server's own are not tallied. */
  #adopt(oid: number, tallies: Map<number, number> | null): void {
    if (tallies && this.#objects.has(oid)) tallies.set(oid, (tallies.get(oid) ?? 0) + 1);
  }

  _decref(client: number, oid: number): void {
    if (client !== SELF) {
      const c = this.#clients.get(client);
      const n = c?.tallies.get(oid) ?? 0;
      if (n === 0) return; // a client gives back only references it holds
      if (n === 1) c!.tallies.delete(oid);
      else c!.tallies.set(oid, n - 1);
    }
    const entry = this.#objects.get(oid);
    if (entry && --entry.refs <= 0) this.#objects.delete(oid);
  }

  #isAlive(id: number): boolean {
    if (id === SELF) return true;
    const c = this.#clients.get(id);
    return c !== undefined && !c.gone && (c.reply === null || !isDead(c.token));
  }

  /** Local clients whose thread died are dropped (sockets report it themselves). */
  #sweep(): void {
    for (const c of this.#clients.values()) if (c.reply && isDead(c.token)) this.#dropClient(c);
  }

  #dropClient(c: ClientRecord): void {
    if (c.gone) return;
    c.gone = true;
    this.#clients.delete(c.id);
    c.socket?.close();
    for (const [oid, n] of c.tallies) {
      const entry = this.#objects.get(oid);
      if (entry && (entry.refs -= n) <= 0) this.#objects.delete(oid);
    }
    for (const entry of this.#objects.values()) entry.obj[onClientGone]?.(c.id);
  }
}

