// Proxies: the objects a program holds for a manager's shared objects. Every
// exposed method of the referent is a method of the proxy that returns a
// Promise; `nameSync` calls it blocking this thread (local managers only).
// A Namespace proxy also reads attributes (`await ns.x`) and writes them
// (`ns.x = v`, sent in order with the client's other calls).
//
// A proxy is shareable: sent to a child, through a Queue, a Pipe or a
// manager (a dict holding a list proxy), it arrives as a proxy of the same
// object, over the receiver's own connection to the manager. Sending adds a
// reference in flight that the receiver takes over (see server.ts); a proxy
// gives its reference back on releaseProxy(p) / p[Symbol.dispose](), or when
// it is garbage collected.
import { inspect } from 'node:util';
import { registerHandleType, shareable, type HandleData } from '../codec/handles.js';
import { undoIfUnsent } from '../codec/undo.js';
import { ProcessError } from '../errors.js';
import { toTaskSpec } from '../process/task.js';
import { AsyncResult, type ResultCallbacks } from '../pool/async-result.js';
import { clientFor, decodingClient, localClientFor, type ManagerClient, type ManagerInfo } from './client.js';
import { Kind } from './protocol.js';
import { localServers, type ProxyRef } from './server.js';

interface ProxyHandle {
  /** null in a reply: the proxy belongs to the client that receives it. */
  manager: ManagerInfo | null;
  ref: ProxyRef;
}

type ClientOrPending = ManagerClient | Promise<ManagerClient>;

const whenClient = (client: ClientOrPending, fn: (c: ManagerClient) => void): void => {
  if (client instanceof Promise) void client.then(fn, () => {});
  else fn(client);
};

const released = new FinalizationRegistry<{ client: ClientOrPending; oid: number }>(({ client, oid }) =>
  whenClient(client, (c) => c.postOneWay(Kind.Decref, oid)),
);

/**
 * An options argument's AbortSignal stays here (it cannot travel): the call
 * is sent without it, and an abort cancels it (ManagerClient.start).
 */
function takeSignal(args: unknown[]): [unknown[], AbortSignal | undefined] {
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as { signal?: unknown } | null;
    // Plain options objects only: reading .signal of a proxy would be a remote call.
    if (typeof a === 'object' && a !== null && Object.getPrototypeOf(a) === Object.prototype && a.signal instanceof AbortSignal) {
      const { signal, ...rest } = a;
      const sent = args.slice();
      sent[i] = rest;
      return [sent, signal];
    }
  }
  return [args, undefined];
}

/** The state behind one proxy. */
class ProxyCore {
  released = false;
  constructor(
    readonly client: ClientOrPending,
    readonly ref: ProxyRef,
  ) {}

  #check(): void {
    if (this.released) throw new ProcessError(`this ${this.ref.typeid} proxy was released`);
  }

  call(method: string, args: unknown[]): Promise<unknown> {
    if (this.released) return Promise.reject(new ProcessError(`this ${this.ref.typeid} proxy was released`));
    const [sent, signal] = takeSignal(args);
    const c = this.client;
    return c instanceof Promise ? c.then((client) => client.call(this.ref.oid, method, sent, signal)) : c.call(this.ref.oid, method, sent, signal);
  }

  callSync(method: string, args: unknown[]): unknown {
    this.#check();
    if (this.client instanceof Promise) throw new ProcessError('proxies of a remote manager (reached over a socket) are asynchronous: use the async methods');
    const [sent, signal] = takeSignal(args);
    return this.client.callSync(this.ref.oid, method, sent, signal);
  }

  /** Sends a call now (an unsendable argument throws here) without waiting for its answer. */
  post(method: string, args: unknown[]): void {
    this.#check();
    const c = this.client;
    if (c instanceof Promise) void c.then((client) => client.call(this.ref.oid, method, args)).catch(() => {});
    else c.start(this.ref.oid, method, args).catch(() => {});
  }

  handle(): HandleData {
    this.#check();
    const c = this.client;
    if (c instanceof Promise) throw new ProcessError('a proxy of a remote manager can be sent on once its connection is up: make one call first');
    const oid = this.ref.oid;
    c.postOneWay(Kind.Incref, oid); // before the message carrying it: the receiver's Adopt comes later
    // Not sent after all: the reference in flight comes back here and is given back, as a receiver would.
    undoIfUnsent(() => {
      c.postOneWay(Kind.Adopt, oid);
      c.postOneWay(Kind.Decref, oid);
    });
    const data: ProxyHandle = { manager: c.info, ref: this.ref };
    return { type: 'multiproc.ManagerProxy', data };
  }

  release(proxy: object): void {
    if (this.released) return;
    this.released = true;
    released.unregister(proxy);
    whenClient(this.client, (c) => c.postOneWay(Kind.Decref, this.ref.oid));
  }
}

const cores = new WeakMap<object, ProxyCore>();

/** Gives a proxy's reference back now (the object is freed once no proxy refers to it). Later calls fail. */
export function releaseProxy(proxy: object): void {
  const core = cores.get(proxy);
  if (!core) throw new TypeError('releaseProxy() takes a manager proxy');
  core.release(proxy);
}

/** Whether `value` is a manager proxy. */
export function isProxy(value: unknown): boolean {
  return typeof value === 'object' && value !== null && cores.has(value);
}

/** Client-side members of some typeids' proxies, built on their remote methods. */
type Extras = Record<string, (core: ProxyCore, proxy: any) => unknown>;

const lockExtras: Extras = {
  /** Runs `fn` holding the lock; releases it even if `fn` throws. */
  withLock: (_core, proxy) => async (fn: () => unknown) => {
    await proxy.acquire();
    try {
      return await fn();
    } finally {
      await proxy.release();
    }
  },
};

/** Python's Condition.wait_for, run in the caller as in Python's proxy: the predicate never travels. */
function waitFor(proxy: any, sync: boolean) {
  return (predicate: () => unknown, timeout?: number) => {
    const deadline = timeout === undefined || timeout === null ? Infinity : Date.now() + timeout;
    if (sync) {
      let result = predicate();
      while (!result && Date.now() < deadline) {
        proxy.waitSync(deadline === Infinity ? undefined : deadline - Date.now());
        result = predicate();
      }
      return result;
    }
    return (async () => {
      let result = await predicate();
      while (!result && Date.now() < deadline) {
        await proxy.wait(deadline === Infinity ? undefined : deadline - Date.now());
        result = await predicate();
      }
      return result;
    })();
  };
}

/**
 * manager.Pool: a function argument travels as its task spec (source text),
 * an iterable input as an array; the *Async forms and imap are built here on
 * the remote calls.
 */
function poolCall(core: ProxyCore, method: string, sync: boolean) {
  return (fn: unknown, input?: unknown, ...rest: unknown[]) => {
    const args = [toTaskSpec(fn, 'fn'), input === undefined || Array.isArray(input) ? input : [...(input as Iterable<unknown>)], ...rest];
    if (method !== 'apply') args[1] = ((args[1] ?? []) as unknown[]).map((a) => (method === 'starmap' && !Array.isArray(a) ? [...(a as Iterable<unknown>)] : a));
    return sync ? core.callSync(method, args) : core.call(method, args);
  };
}

function poolAsync(core: ProxyCore, method: string) {
  return (fn: unknown, input?: unknown, options: ResultCallbacks<unknown> & Record<string, unknown> = {}) => {
    const { callback, errorCallback, ...rest } = options;
    const result = new AsyncResult<unknown>({ callback, errorCallback });
    (poolCall(core, method, false)(fn, input, rest) as Promise<unknown>).then(
      (value) => result._settle(true, value),
      (err: unknown) => result._settle(false, err),
    );
    return result;
  };
}

async function* poolImap(core: ProxyCore, fn: unknown, input: unknown, options?: unknown): AsyncGenerator<unknown> {
  yield* (await poolCall(core, 'map', false)(fn, input, options)) as unknown[];
}

const poolExtras: Extras = {
  apply: (core) => poolCall(core, 'apply', false),
  applySync: (core) => poolCall(core, 'apply', true),
  map: (core) => poolCall(core, 'map', false),
  mapSync: (core) => poolCall(core, 'map', true),
  starmap: (core) => poolCall(core, 'starmap', false),
  starmapSync: (core) => poolCall(core, 'starmap', true),
  applyAsync: (core) => poolAsync(core, 'apply'),
  mapAsync: (core) => poolAsync(core, 'map'),
  starmapAsync: (core) => poolAsync(core, 'starmap'),
  imap: (core) => (fn: unknown, input: unknown, options?: unknown) => poolImap(core, fn, input, options),
  imapUnordered: (core) => (fn: unknown, input: unknown, options?: unknown) => poolImap(core, fn, input, options),
};

const extras: Record<string, Extras> = {
  Pool: poolExtras,
  Lock: lockExtras,
  RLock: lockExtras,
  Semaphore: lockExtras,
  BoundedSemaphore: lockExtras,
  Condition: {
    ...lockExtras,
    waitFor: (_core, proxy) => waitFor(proxy, false),
    waitForSync: (_core, proxy) => waitFor(proxy, true),
  },
  Value: {
    /** `await v.value`, as Python's ValueProxy.value. */
    value: (core) => core.call('get', []),
  },
};

/** Typeids whose proxies read and write attributes. */
const attributeSetters: Record<string, string> = { Namespace: 'set', Value: 'set' };

const proxyClasses = new Map<string, new () => object>();

/** A named, inspectable target per typeid: console.log shows `ListProxy { typeid: 'list', id: 3 }`. */
function targetFor(ref: ProxyRef): object {
  const name = `${ref.typeid[0].toUpperCase()}${ref.typeid.slice(1)}Proxy`;
  let Class = proxyClasses.get(name);
  if (!Class) {
    Class = { [name]: class {} }[name];
    proxyClasses.set(name, Class);
  }
  const target = new Class();
  const text = () => `${name} { typeid: '${ref.typeid}', id: ${ref.oid} }`;
  // (configurable: a referent's own toString, when exposed, is what the proxy returns)
  Object.defineProperties(target, { [inspect.custom]: { value: text, configurable: true }, toString: { value: text, configurable: true } });
  return target;
}

export function makeProxy(client: ClientOrPending, ref: ProxyRef): any {
  const core = new ProxyCore(client, ref);
  const exposed = new Set(ref.exposed);
  const typeExtras = extras[ref.typeid] ?? {};
  const methods = new Map<string, unknown>();
  const target = targetFor(ref);

  const member = (name: string): unknown => {
    if (exposed.has(name)) return (...args: unknown[]) => core.call(name, args);
    if (name.endsWith('Sync') && exposed.has(name.slice(0, -4))) {
      const base = name.slice(0, -4);
      return (...args: unknown[]) => core.callSync(base, args);
    }
    return undefined;
  };

  const proxy: any = new Proxy(target, {
    get(t, prop) {
      if (typeof prop === 'symbol') {
        if (prop === shareable) return () => core.handle();
        if (prop === Symbol.dispose || prop === Symbol.asyncDispose) return () => core.release(proxy);
        return Reflect.get(t, prop);
      }
      if (prop === 'then') return undefined; // a proxy is not a thenable: `await manager.list()` gives the proxy
      if (Object.hasOwn(typeExtras, prop)) return typeExtras[prop](core, proxy);
      let m = methods.get(prop);
      if (m === undefined) {
        m = member(prop);
        if (m !== undefined) methods.set(prop, m);
      }
      if (m !== undefined) return m;
      if (prop in t) return Reflect.get(t, prop); // toString, valueOf, constructor, ...: `${proxy}` works
      if (ref.typeid === 'Namespace') {
        const read = core.call('get', [prop]);
        read.catch(() => {}); // a probe nobody awaits (JSON.stringify's toJSON) must not be an unhandled rejection
        return read;
      }
      return undefined;
    },
    set(_t, prop, value) {
      const setter = attributeSetters[ref.typeid];
      if (typeof prop === 'string' && setter && !exposed.has(prop)) {
        core.post(setter, ref.typeid === 'Namespace' ? [prop, value] : [value]);
        return true;
      }
      throw new TypeError(`cannot set ${String(prop)} on a ${ref.typeid} proxy: call its methods`);
    },
    has(_t, prop) {
      return typeof prop === 'string' && (exposed.has(prop) || Object.hasOwn(typeExtras, prop));
    },
  });
  cores.set(proxy, core);
  released.register(proxy, { client, oid: ref.oid }, proxy);
  return proxy;
}

registerHandleType('multiproc.ManagerProxy', (data: ProxyHandle) => {
  if (data.manager) {
    const server = localServers.get(data.manager.mid);
    if (server) return server._adoptHere(data.ref.oid); // back home, inside the server
  }
  let client: ClientOrPending;
  if (!data.manager) {
    if (!decodingClient) throw new TypeError('a manager proxy arrived without the address of its manager');
    client = decodingClient;
  } else client = localClientFor(data.manager) ?? clientFor(data.manager);
  whenClient(client, (c) => c.postOneWay(Kind.Adopt, data.ref.oid));
  return makeProxy(client, data.ref);
});
