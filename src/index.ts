// multiproc: Python's multiprocessing for TypeScript on Node.js.
// Everything is exported from the package root and, bound to a kind of child,
// from a context object: getContext('thread' | 'process').
import { checkMethod, getStartMethod, type StartMethod } from './context.js';
import * as root from './index.js';
import { Process } from './process/process.js';
import { Pool } from './pool/pool.js';
import { PoolExecutor } from './pool/executor.js';

export * from './errors.js';
export { getAllStartMethods, getStartMethod, setStartMethod, type StartMethod, type ContextLike } from './context.js';
export { Process, type ProcessOptions } from './process/process.js';
export { activeChildren, cpuCount, currentProcess, isMainProcess, parentProcess, ParentProcess } from './process/helpers.js';
export { task, type ModuleTask, type Target } from './process/task.js';
export { SharedMemory, type SharedMemoryOptions } from './shared-memory/shared-memory.js';
export { ShareableList, type ShareableItem, type ShareableListOptions } from './shared-memory/shareable-list.js';
export { Queue, type QueueOptions } from './queues/queue.js';
export { JoinableQueue } from './queues/joinable-queue.js';
export { SimpleQueue } from './queues/simple-queue.js';
export type { AcquireOptions, BlockingOptions } from './options.js';
export { Connection, Pipe } from './connection/connection.js';
export { wait, type Waitable } from './connection/wait.js';
export { Client, Listener, type Address, type ListenerOptions } from './connection/listener.js';
export { SocketConnection } from './connection/socket-connection.js';
export { Lock } from './sync/lock.js';
export { RLock } from './sync/rlock.js';
export { BoundedSemaphore, Semaphore } from './sync/semaphore.js';
export { Condition } from './sync/condition.js';
export { Event } from './sync/event.js';
export { Barrier, type BarrierOptions } from './sync/barrier.js';
export { RawValue, SharedValue, SynchronizedValue, Value, type LockOption } from './sharedctypes/value.js';
export { RawArray, SharedArray, SharedArray as Array, type RawSharedArray, type SynchronizedArray, type CharArrayExtras } from './sharedctypes/array.js';
export type { ArrayOf, Typecode, ValueInput, ValueOf } from './sharedctypes/typecodes.js';
export { encode as _encode, decode as _decode } from './codec/codec.js';
export { BaseManager, type BaseManagerOptions, type RegisterOptions } from './managers/base-manager.js';
export { Manager, SyncManager } from './managers/sync-manager.js';
export { Server as ManagerServer } from './managers/server.js';
export { isProxy, releaseProxy } from './managers/proxy.js';
export type * from './managers/types.js';
export { Pool, type PoolOptions, type PoolInput, type ApplyOptions, type MapOptions, type IMapOptions, type CancelOptions } from './pool/pool.js';
export { AsyncResult, type ResultCallbacks } from './pool/async-result.js';
export { Future, PoolExecutor, type PoolExecutorOptions, type ExecutorMapOptions, type ShutdownOptions } from './pool/executor.js';
export { IMapIterator } from './pool/imap.js';
export type { Progress, ProgressOption } from './pool/progress.js';

/** A context: every name of the package root, with children of one kind (Python's get_context()). */
export type Context = typeof root & {
  readonly startMethod: StartMethod;
  getStartMethod(): StartMethod;
};

type ContextBound = abstract new (...args: any[]) => object;

/** A subclass of `Base` whose instances default to `method`; its name stays the base's. */
function bound<C extends ContextBound & { defaultContext: StartMethod | undefined }>(Base: C, method: StartMethod): C {
  const Bound = class extends (Base as unknown as new (...args: any[]) => object) {
    static defaultContext: StartMethod | undefined = method;
  };
  Object.defineProperty(Bound, 'name', { value: Base.name });
  return Bound as unknown as C;
}

function makeContext(method: StartMethod): Context {
  return Object.freeze({
    ...root,
    startMethod: method,
    getStartMethod: () => method,
    Process: bound(Process, method),
    Pool: bound(Pool, method),
    PoolExecutor: bound(PoolExecutor, method),
  });
}

const contexts = new Map<StartMethod, Context>();

/** The context of `method`, or of the default start method. */
export function getContext(method?: StartMethod): Context {
  const m = method ?? (getStartMethod() as StartMethod);
  checkMethod(m);
  let ctx = contexts.get(m);
  if (!ctx) contexts.set(m, (ctx = makeContext(m)));
  return ctx;
}
