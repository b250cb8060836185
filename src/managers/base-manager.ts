// BaseManager: Python's multiprocessing.managers.BaseManager. A subclass
// registers typeids; start() runs a server in a child (a thread or a process,
// by context) that makes and owns the objects, connect() reaches a server
// another program runs (getServer().serveForever()), over TCP or a Unix
// socket with the authkey handshake.
//
// A manager started here is reached through shared memory by this program
// and its children (no socket round trip per call); it also listens on
// `address` when one is given, for remote clients.
import { randomBytes } from 'node:crypto';
import type { Address } from '../connection/listener.js';
import { toAuthkey } from '../connection/auth.js';
import { Pipe } from '../connection/connection.js';
import { contextMethod, type ContextLike } from '../context.js';
import { ProcessError, RemoteError } from '../errors.js';
import { requireNative } from '../native.js';
import { Process } from '../process/process.js';
import { task, toTaskSpec, type ModuleTask, type TaskSpec } from '../process/task.js';
import { Ring } from '../channel/ring.js';
import { clientFor, connectClient, type ManagerClient, type ManagerInfo } from './client.js';
import { CREATE_OID, MANAGER_OID } from './protocol.js';
import { Server, type TypeSpec } from './server.js';
import type { ServerInit } from './server-entry.js';

export interface RegisterOptions {
  /** Method names proxies may call (default: the object's public methods, without names starting with '_'; a name listed here is exposed even so, as Python). */
  exposed?: string[];
  /** Methods whose results come back as proxies of these typeids. */
  methodToTypeid?: Record<string, string>;
  /** Add `manager[typeid](...args)` (default true). */
  create?: boolean;
}

export interface BaseManagerOptions {
  /** Where the server listens (start, getServer) or is (connect): [host, port] or a Unix socket path. */
  address?: Address;
  /** Shared secret of the handshake; default: random (pass it to remote clients). */
  authkey?: Uint8Array | string;
  /** The kind of child the server runs in: 'thread' | 'process' (default: the default context). */
  context?: ContextLike;
}

/** A typeid as registered: `callable` is a function, a module task, or null (connect-only). */
interface Registered {
  callable: ((...args: any[]) => unknown) | ModuleTask | null;
  exposed: string[] | null;
  methodToTypeid: Record<string, string> | null;
}

const registries = new WeakMap<Function, Map<string, Registered>>();
const serverEntry = new URL('./server-entry.js', import.meta.url).href;
const REQUEST_RING = 1 << 20;
const SHUTDOWN_GRACE_MS = 5000;
let managerCounter = 0;

type State = 'initial' | 'started' | 'connected' | 'shutdown';

export class BaseManager {
  /**
   * Registers `typeid`: `callable(...args)` makes its objects in the server.
   * In a server started in a child, a function callable travels by its source
   * (it must not capture variables); a module task task(url, name) is
   * imported there.
   */
  static register(typeid: string, callable?: ((...args: any[]) => unknown) | ModuleTask | null, options: RegisterOptions = {}): void {
    if (typeof typeid !== 'string' || typeid === '' || typeid.startsWith('_')) throw new TypeError(`typeid must be a non-empty string not starting with '_', got ${String(typeid)}`);
    if (callable !== undefined && callable !== null) toTaskSpec(callable, `register('${typeid}') callable`); // a clear error now
    let own = registries.get(this);
    if (!own) registries.set(this, (own = new Map(BaseManager.#registryOf(Object.getPrototypeOf(this)))));
    own.set(typeid, { callable: callable ?? null, exposed: options.exposed ?? null, methodToTypeid: options.methodToTypeid ?? null });
    if (options.create !== false) {
      Object.defineProperty(this.prototype, typeid, {
        configurable: true,
        writable: true,
        value: function (this: BaseManager, ...args: unknown[]) {
          return this._create(typeid, args);
        },
      });
    }
  }

  static #registryOf(cls: Function | null): Map<string, Registered> {
    for (let c = cls; c; c = Object.getPrototypeOf(c)) {
      const r = registries.get(c);
      if (r) return r;
    }
    return new Map();
  }

  readonly #address: Address | null;
  readonly #authkey: Buffer | null;
  readonly #context: ContextLike | undefined;
  #state: State = 'initial';
  #client: ManagerClient | null = null;
  #process: Process | null = null;
  #server: Server | null = null;

  constructor(options: BaseManagerOptions = {}) {
    this.#address = options.address ?? null;
    this.#authkey = toAuthkey(options.authkey) ?? (this.#address ? randomBytes(32) : null);
    this.#context = options.context;
  }

  /** The address the server listens on (the real port once started), or null. */
  get address(): Address | null {
    return this.#client?.info.address ?? this.#address;
  }

  get authkey(): Buffer | null {
    return this.#authkey;
  }

  #registry(): Map<string, Registered> {
    return BaseManager.#registryOf(this.constructor);
  }

  /** Starts the server in a child; resolves once it serves. */
  async start(): Promise<void> {
    if (this.#state !== 'initial') throw new ProcessError(`cannot start a manager that is ${this.#state === 'started' ? 'already started' : this.#state}`);
    requireNative('a manager');
    this.#state = 'started';
    const mid = `${process.pid}.${++managerCounter}.${randomBytes(4).toString('hex')}`;
    const ring = Ring.create(REQUEST_RING);
    const [startedReader, startedWriter] = Pipe(false, { bufferSize: 4096 });
    const init: ServerInit = {
      mid,
      ring: ring.segment,
      address: this.#address,
      authkey: this.#authkey?.toString('hex') ?? null,
      registry: [...this.#registry()].map(([typeid, r]) => ({
        typeid,
        callable: r.callable === null ? null : (toTaskSpec(r.callable) as TaskSpec),
        exposed: r.exposed,
        methodToTypeid: r.methodToTypeid,
      })),
      started: startedWriter,
    };
    const p = new Process({
      target: task(serverEntry, 'serveManager'),
      args: [init],
      name: `${this.constructor.name}-${managerCounter}`,
      daemon: true, // ends with its owner
      context: contextMethod(this.#context),
    });
    this.#process = p;
    p.start();
    startedWriter.close();
    let started: { address: Address | null; error?: unknown };
    try {
      started = await startedReader.recv();
    } catch (err) {
      this.#state = 'shutdown';
      throw new RemoteError(`the manager's server exited before it started serving (exit code ${p.exitCode})`, { cause: err });
    } finally {
      startedReader.close();
    }
    if (started.error) {
      this.#state = 'shutdown';
      await p.join();
      throw started.error;
    }
    const info: ManagerInfo = { mid, ring: ring.segment, address: started.address, authkey: init.authkey };
    this.#client = await clientFor(info);
  }

  /** Connects to a server another program runs at `address` (with `authkey`). */
  async connect(): Promise<void> {
    if (this.#state !== 'initial') throw new ProcessError(`cannot connect a manager that is ${this.#state}`);
    if (!this.#address) throw new TypeError('connect() needs the address of the server: new Manager({ address, authkey })');
    const probe: ManagerInfo = { mid: `connecting:${JSON.stringify(this.#address)}`, ring: null, address: this.#address, authkey: this.#authkey?.toString('hex') ?? null };
    const client = await connectClient(probe);
    let mid: string;
    try {
      ({ mid } = (await client.call(MANAGER_OID, 'describe', [])) as { mid: string });
    } finally {
      client.close();
    }
    this.#client = await connectClient({ ...probe, mid });
    this.#state = 'connected';
  }

  /** A server for this process to run itself: `await manager.getServer().serveForever()`. */
  getServer(): Server {
    if (this.#state !== 'initial') throw new ProcessError(`getServer() is for a manager that is neither started nor connected; this one is ${this.#state}`);
    if (this.#server) return this.#server;
    const registry = new Map<string, TypeSpec>();
    for (const [typeid, r] of this.#registry()) registry.set(typeid, { callable: r.callable, exposed: r.exposed, methodToTypeid: r.methodToTypeid });
    const mid = `${process.pid}.${++managerCounter}.${randomBytes(4).toString('hex')}`;
    this.#server = new Server({ mid, registry, ring: null, address: this.#address ?? ['127.0.0.1', 0], authkey: this.#authkey });
    return this.#server;
  }

  /** How many shared objects the server holds now (Python's _number_of_objects(), for tests and diagnostics). */
  async _numberOfObjects(): Promise<number> {
    const { objects } = (await this.#connected().call(MANAGER_OID, 'describe', [])) as { objects: number };
    return objects;
  }

  /** Makes an object of `typeid` in the server; resolves with its proxy. */
  async _create(typeid: string, args: unknown[]): Promise<any> {
    if (!this.#registry().has(typeid)) throw new TypeError(`'${typeid}' is not registered with ${this.constructor.name}`);
    return this.#connected().call(CREATE_OID, typeid, args);
  }

  #connected(): ManagerClient {
    if (this.#state === 'shutdown') throw new ProcessError('the manager has been shut down');
    if (!this.#client) throw new ProcessError('the manager is not started: call await manager.start() or connect() first');
    return this.#client;
  }

  /**
   * Stops the server (a connected manager asks its server to stop). Proxies
   * still held anywhere fail their calls with RemoteError from then on.
   */
  async shutdown(): Promise<void> {
    if (this.#state === 'shutdown') return;
    const client = this.#client;
    this.#state = 'shutdown';
    this.#server?.shutdown();
    if (!client) return;
    try {
      await client.call(MANAGER_OID, 'shutdown', []);
    } catch {
      /* already gone */
    }
    client.close();
    const p = this.#process;
    if (p) {
      await p.join(SHUTDOWN_GRACE_MS);
      if (p.exitCode === null) {
        p.terminate();
        await p.join();
      }
    }
  }

  /** A connected manager: closes this program's connection, leaving the server to its other clients. */
  close(): void {
    if (this.#state !== 'connected') return;
    this.#state = 'shutdown';
    this.#client?.close();
  }

  /** A started manager shuts down; a connected one only closes its connection (see close()). */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#state === 'connected') this.close();
    else await this.shutdown();
  }
}
