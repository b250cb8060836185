// The types of SyncManager's proxies. Each method returns a Promise; each has
// a `Sync` twin that blocks the calling thread (managers on this machine).
import type { AcquireOptions } from '../options.js';

type Timeout = number | AcquireOptions;
type BlockingOptions = AcquireOptions;

/** Adds `nameSync(...)` returning R for each `name(...)` returning Promise<R>. */
export type WithSync<I> = I & {
  [K in keyof I as K extends string ? `${K}Sync` : never]: I[K] extends (...a: infer A) => Promise<infer R> ? (...a: A) => R : never;
};

/** What every proxy has: give its reference back with `using`/dispose (or releaseProxy()). */
export interface ProxyBase extends Disposable, AsyncDisposable {}

export type ListProxy<T = any> = ProxyBase &
  WithSync<{
    append(item: T): Promise<void>;
    extend(items: Iterable<T>): Promise<void>;
    insert(index: number, item: T): Promise<void>;
    pop(index?: number): Promise<T>;
    remove(item: T): Promise<void>;
    index(item: T, start?: number, stop?: number): Promise<number>;
    count(item: T): Promise<number>;
    sort(options?: { reverse?: boolean }): Promise<void>;
    reverse(): Promise<void>;
    get(index: number): Promise<T>;
    set(index: number, item: T): Promise<void>;
    delete(index: number): Promise<void>;
    length(): Promise<number>;
    includes(item: T): Promise<boolean>;
    clear(): Promise<void>;
    slice(start?: number, end?: number): Promise<T[]>;
    toArray(): Promise<T[]>;
  }>;

export type DictKey = string | number | bigint | boolean | null | undefined;

export type DictProxy<V = any, K extends DictKey = DictKey> = ProxyBase &
  WithSync<{
    get(key: K): Promise<V | undefined>;
    get<D>(key: K, fallback: D): Promise<V | D>;
    set(key: K, value: V): Promise<void>;
    delete(key: K): Promise<void>;
    has(key: K): Promise<boolean>;
    keys(): Promise<K[]>;
    values(): Promise<V[]>;
    items(): Promise<[K, V][]>;
    update(other: Record<string, V> | Iterable<[K, V]> | Map<K, V>): Promise<void>;
    pop(key: K, fallback?: V): Promise<V>;
    popitem(): Promise<[K, V]>;
    setdefault(key: K, fallback?: V): Promise<V>;
    clear(): Promise<void>;
    length(): Promise<number>;
    toObject(): Promise<Record<string, V>>;
    toMap(): Promise<Map<K, V>>;
  }>;

/** `await ns.x` reads an attribute, `ns.x = v` writes it (in order with this thread's other calls). */
export type NamespaceProxy = ProxyBase &
  WithSync<{
    get(name: string): Promise<any>;
    set(name: string, value: unknown): Promise<void>;
    delete(name: string): Promise<void>;
    has(name: string): Promise<boolean>;
    toObject(): Promise<Record<string, any>>;
  }> & { [attribute: string]: any };

export type QueueProxy<T = any> = ProxyBase &
  WithSync<{
    put(item: T, options?: BlockingOptions): Promise<void>;
    get(options?: BlockingOptions): Promise<T>;
    putNowait(item: T): Promise<void>;
    getNowait(): Promise<T>;
    qsize(): Promise<number>;
    empty(): Promise<boolean>;
    full(): Promise<boolean>;
  }>;

export type JoinableQueueProxy<T = any> = QueueProxy<T> & WithSync<{ taskDone(): Promise<void>; join(): Promise<void> }>;

type LockMethods = {
  acquire(options?: Timeout): Promise<boolean>;
  release(): Promise<void>;
};
type WithLock = { withLock<R>(fn: () => R | Promise<R>): Promise<R> };

export type LockProxy = ProxyBase & WithSync<LockMethods & { locked(): Promise<boolean> }> & WithLock;
export type SemaphoreProxy = ProxyBase & WithSync<LockMethods & { release(n?: number): Promise<void>; getValue(): Promise<number> }> & WithLock;
export type ConditionProxy = ProxyBase &
  WithSync<LockMethods & { wait(timeout?: Timeout): Promise<boolean>; notify(n?: number): Promise<void>; notifyAll(): Promise<void> }> &
  WithLock & {
    waitFor<R>(predicate: () => R | Promise<R>, timeout?: number): Promise<R>;
    waitForSync<R>(predicate: () => R, timeout?: number): R;
  };
export type EventProxy = ProxyBase &
  WithSync<{ isSet(): Promise<boolean>; set(): Promise<void>; clear(): Promise<void>; wait(timeout?: Timeout): Promise<boolean> }>;
export type BarrierProxy = ProxyBase &
  WithSync<{
    wait(timeout?: Timeout): Promise<number>;
    reset(): Promise<void>;
    abort(): Promise<void>;
    parties(): Promise<number>;
    nWaiting(): Promise<number>;
    broken(): Promise<boolean>;
  }>;
/** `await v.value` reads, `v.value = x` writes (as Python's ValueProxy.value). */
export type ValueProxy<T = any> = ProxyBase & WithSync<{ get(): Promise<T>; set(value: T): Promise<void> }> & { value: T | Promise<T> };
export type ArrayProxy<T = number> = ProxyBase &
  WithSync<{ get(index: number): Promise<T>; set(index: number, value: T): Promise<void>; length(): Promise<number>; toArray(): Promise<T[]> }>;

type PoolFn = ((...args: any[]) => unknown) | { readonly kind: 'module'; readonly url: string; readonly exportName: string };
type PoolCallOptions = { chunksize?: number; timeout?: number };

/**
 * manager.Pool(n): the Pool's methods, run by a Pool in the manager's server.
 * imap/imapUnordered read their input whole and yield the results in order
 * (or as map returns them); applyAsync/mapAsync/starmapAsync give AsyncResults.
 */
export type PoolProxy = ProxyBase &
  WithSync<{
    apply(fn: PoolFn, args?: unknown[], options?: { timeout?: number }): Promise<any>;
    map(fn: PoolFn, iterable: Iterable<unknown>, options?: PoolCallOptions): Promise<any[]>;
    starmap(fn: PoolFn, iterable: Iterable<Iterable<unknown>>, options?: PoolCallOptions): Promise<any[]>;
    close(): Promise<void>;
    terminate(): Promise<void>;
    join(): Promise<void>;
    processes(): Promise<number>;
  }> & {
    applyAsync(fn: PoolFn, args?: unknown[], options?: { callback?: (r: any) => void; errorCallback?: (e: unknown) => void }): import('../pool/async-result.js').AsyncResult<any>;
    mapAsync(fn: PoolFn, iterable: Iterable<unknown>, options?: PoolCallOptions): import('../pool/async-result.js').AsyncResult<any[]>;
    starmapAsync(fn: PoolFn, iterable: Iterable<Iterable<unknown>>, options?: PoolCallOptions): import('../pool/async-result.js').AsyncResult<any[]>;
    imap(fn: PoolFn, iterable: Iterable<unknown>, options?: PoolCallOptions): AsyncIterableIterator<any>;
    imapUnordered(fn: PoolFn, iterable: Iterable<unknown>, options?: PoolCallOptions): AsyncIterableIterator<any>;
  };

/** A proxy of a registered typeid: every exposed method, returning Promises. */
export type ManagerProxy<T = any> = ProxyBase & { [method: string]: (...args: any[]) => Promise<T> };
