// How SyncManager's server makes each built-in typeid's object. These are
// module-task callables (task(this module, name)), so a server in a child
// imports them instead of receiving their source.
import { ArrayReferent, DictReferent, ListReferent, NamespaceReferent, QueueReferent, ValueReferent } from './referents.js';
import {
  BarrierReferent,
  BoundedSemaphoreReferent,
  ConditionReferent,
  EventReferent,
  LockReferent,
  RLockReferent,
  SemaphoreReferent,
} from './sync-referents.js';
import { ServerRef } from './server.js';
import { PoolReferent } from './pool-referent.js';

export const list = (init?: Iterable<unknown>) => new ListReferent(init);
export const dict = (init?: Record<string, unknown>) => new DictReferent(init);
export const Namespace = (init?: Record<string, unknown>) => new NamespaceReferent(init);
export const Queue = (maxsize?: number) => new QueueReferent(maxsize);
export const JoinableQueue = (maxsize?: number) => new QueueReferent(maxsize);
export const Lock = () => new LockReferent();
export const RLock = () => new RLockReferent();
export const Semaphore = (value?: number) => new SemaphoreReferent(value);
export const BoundedSemaphore = (value?: number) => new BoundedSemaphoreReferent(value);
/** The lock, if given, is a proxy of a Lock or RLock of this manager: it arrives here as a ServerRef. */
export const Condition = (lock?: unknown) => new ConditionReferent((lock instanceof ServerRef ? lock.target : lock) as LockReferent | undefined);
export const Event = () => new EventReferent();
export const Barrier = (parties: number, options?: { timeout?: number }) => new BarrierReferent(parties, options);
export const Value = (typecode: string, value: unknown) => new ValueReferent(typecode, value);
// biome-ignore lint/suspicious/noShadowRestrictedNames: the typeid is Python's name, Array
export const Array = (typecode: string, init: Iterable<unknown> | number) => new ArrayReferent(typecode, init);
export const Pool = (processes?: number) => new PoolReferent(processes);

/** The exposed methods of each: proxies of these typeids call exactly these. */
export const exposed: Record<string, string[]> = {
  list: ['append', 'extend', 'insert', 'pop', 'remove', 'index', 'count', 'sort', 'reverse', 'get', 'set', 'delete', 'length', 'includes', 'clear', 'slice', 'toArray'],
  dict: ['get', 'set', 'delete', 'has', 'keys', 'values', 'items', 'update', 'pop', 'popitem', 'setdefault', 'clear', 'length', 'toObject', 'toMap'],
  Namespace: ['get', 'set', 'delete', 'has', 'toObject'],
  Queue: ['put', 'get', 'putNowait', 'getNowait', 'qsize', 'empty', 'full'],
  JoinableQueue: ['put', 'get', 'putNowait', 'getNowait', 'qsize', 'empty', 'full', 'taskDone', 'join'],
  Lock: ['acquire', 'release', 'locked'],
  RLock: ['acquire', 'release', 'locked'],
  Semaphore: ['acquire', 'release', 'getValue'],
  BoundedSemaphore: ['acquire', 'release', 'getValue'],
  Condition: ['acquire', 'release', 'wait', 'notify', 'notifyAll'],
  Event: ['isSet', 'set', 'clear', 'wait'],
  Barrier: ['wait', 'reset', 'abort', 'parties', 'nWaiting', 'broken'],
  Value: ['get', 'set'],
  Array: ['get', 'set', 'length', 'toArray'],
  Pool: ['apply', 'map', 'starmap', 'close', 'terminate', 'join', 'processes'],
};
