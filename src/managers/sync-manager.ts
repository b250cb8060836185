// SyncManager and Manager(): Python's multiprocessing.Manager() — a started
// BaseManager with list, dict, Namespace, the queues, the synchronization
// types, Value and Array registered.
import { task } from '../process/task.js';
import { BaseManager, type BaseManagerOptions } from './base-manager.js';
import { exposed } from './builtins.js';
import type {
  ArrayProxy,
  BarrierProxy,
  ConditionProxy,
  DictProxy,
  EventProxy,
  JoinableQueueProxy,
  ListProxy,
  LockProxy,
  PoolProxy,
  NamespaceProxy,
  QueueProxy,
  SemaphoreProxy,
  ValueProxy,
} from './types.js';

const builtins = new URL('./builtins.js', import.meta.url).href;

export class SyncManager extends BaseManager {
  list<T = any>(init?: Iterable<T>): Promise<ListProxy<T>> {
    return this._create('list', init === undefined ? [] : [[...init]]);
  }
  dict<V = any>(init?: Record<string, V> | Iterable<[unknown, V]> | Map<unknown, V>): Promise<DictProxy<V>> {
    return this._create('dict', init === undefined ? [] : [init instanceof Map || Array.isArray(init) ? [...init] : init]);
  }
  Namespace(init?: Record<string, unknown>): Promise<NamespaceProxy> {
    return this._create('Namespace', init === undefined ? [] : [init]);
  }
  Queue<T = any>(maxsize = 0): Promise<QueueProxy<T>> {
    return this._create('Queue', [maxsize]);
  }
  JoinableQueue<T = any>(maxsize = 0): Promise<JoinableQueueProxy<T>> {
    return this._create('JoinableQueue', [maxsize]);
  }
  Lock(): Promise<LockProxy> {
    return this._create('Lock', []);
  }
  RLock(): Promise<LockProxy> {
    return this._create('RLock', []);
  }
  Semaphore(value = 1): Promise<SemaphoreProxy> {
    return this._create('Semaphore', [value]);
  }
  BoundedSemaphore(value = 1): Promise<SemaphoreProxy> {
    return this._create('BoundedSemaphore', [value]);
  }
  /** A Condition over `lock` (a Lock or RLock proxy of this manager), or over a new RLock. */
  Condition(lock?: LockProxy): Promise<ConditionProxy> {
    return this._create('Condition', lock === undefined ? [] : [lock]);
  }
  Event(): Promise<EventProxy> {
    return this._create('Event', []);
  }
  Barrier(parties: number, options: { timeout?: number } = {}): Promise<BarrierProxy> {
    return this._create('Barrier', [parties, options]);
  }
  Value<T = any>(typecode: string, value: T): Promise<ValueProxy<T>> {
    return this._create('Value', [typecode, value]);
  }
  Array<T = number>(typecode: string, sequence: Iterable<T> | number): Promise<ArrayProxy<T>> {
    return this._create('Array', [typecode, typeof sequence === 'number' ? sequence : [...sequence]]);
  }
  /** A Pool of `processes` workers (default cpuCount()) in the manager's server; results come back through it. */
  Pool(processes?: number): Promise<PoolProxy> {
    return this._create('Pool', processes === undefined ? [] : [processes]);
  }
}

for (const typeid of Object.keys(exposed)) {
  SyncManager.register(typeid, task(builtins, typeid), { exposed: exposed[typeid], create: false });
}

/** Starts a SyncManager (its server in a child of the given context) and resolves with it: `await using m = await Manager()`. */
export async function Manager(options: BaseManagerOptions = {}): Promise<SyncManager> {
  const manager = new SyncManager(options);
  await manager.start();
  return manager;
}
