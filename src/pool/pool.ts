// Pool: Python's multiprocessing.Pool on the shared-memory dispatcher
// (dispatcher.ts). Workers start eagerly; every task settles exactly once,
// even when its worker dies (BrokenPoolError) — CPython hangs there.
import type { ResourceLimits } from 'node:worker_threads';
import { contextMethod, type ContextLike, type StartMethod } from '../context.js';
import { ProcessError } from '../errors.js';
import { cpuCount } from '../process/helpers.js';
import type { Process } from '../process/process.js';
import { toTaskSpec, type Target } from '../process/task.js';
import { AsyncResult, type ResultCallbacks } from './async-result.js';
import { BACKEND, type PoolBackend, type WithBackend } from './backend.js';
import { Dispatcher } from './dispatcher.js';
import { IMapIterator, type IMapOptions } from './imap.js';
import { CallJob, MapJob, readAll, type CancelOptions, type MapOptions } from './jobs.js';
import { Mode } from './messages.js';

export interface PoolOptions {
  /** Number of workers; default cpuCount(). */
  processes?: number;
  /** Runs once in each worker before its first task (a function shipped by source, or task()). */
  initializer?: Target;
  initargs?: unknown[];
  /** A worker is replaced after this many tasks (a chunk counts as one); default: never. */
  maxtasksperchild?: number | null;
  /** 'thread' | 'process' or a context object; default: the default context. */
  context?: ContextLike;
  /** Thread workers only: worker_threads' heap limits. */
  resourceLimits?: ResourceLimits;
}

export type PoolInput<T> = Iterable<T> | AsyncIterable<T>;
export type ApplyOptions<R> = CancelOptions & ResultCallbacks<R>;
export type { MapOptions, IMapOptions, CancelOptions };

type Fn<A extends unknown[], R> = ((...args: A) => R | PromiseLike<R>) | Target;

/** Checks the pool options shared by Pool and PoolExecutor; returns the worker count. */
export function checkWorkers(n: unknown, what: string): number {
  if (n === undefined || n === null) return cpuCount();
  if (!Number.isInteger(n)) throw new TypeError(`${what} must be an integer, got ${typeof n}`);
  if ((n as number) < 1) throw new RangeError(`${what} must be at least 1`);
  return n as number;
}

export class Pool implements AsyncDisposable {
  /** Set by context-bound subclasses (getContext('process').Pool). */
  static defaultContext: StartMethod | undefined;

  readonly #d: PoolBackend;

  constructor(options: number | PoolOptions = {}) {
    const opts: PoolOptions = typeof options === 'number' ? { processes: options } : options;
    if (opts === null || typeof opts !== 'object') throw new TypeError('new Pool(options): pass a number of processes or an options object');
    const backend = (opts as WithBackend)[BACKEND];
    if (backend) {
      this.#d = backend;
      return;
    }
    const processes = checkWorkers(opts.processes, 'Number of processes');
    const maxtasks = opts.maxtasksperchild ?? 0;
    if (!Number.isInteger(maxtasks) || maxtasks < 0) throw new RangeError('maxtasksperchild must be a positive integer or null');
    const initargs = opts.initargs ?? [];
    if (!Array.isArray(initargs)) throw new TypeError('initargs must be an array');
    this.#d = new Dispatcher({
      processes,
      method: contextMethod(opts.context ?? (new.target as typeof Pool).defaultContext),
      initializer: opts.initializer === undefined || opts.initializer === null ? undefined : toTaskSpec(opts.initializer, 'initializer'),
      initargs,
      maxtasks,
      resourceLimits: opts.resourceLimits,
      breakOnDeath: false,
    });
  }

  /** How many workers the pool keeps. */
  get processes(): number {
    return this.#d.processes;
  }

  /** The live workers (Python's pool._pool): after a crash, the replacement is here. */
  get workers(): Process[] {
    return this.#d.workers;
  }

  // ---- one call ----------------------------------------------------------------

  /** fn(...args) in a worker; resolves with its result. */
  async apply<A extends unknown[], R>(fn: Fn<A, R>, args?: A, options: CancelOptions = {}): Promise<R> {
    return this.applyAsync(fn, args, options).get();
  }

  /** fn(...args) in a worker, as an AsyncResult (with Python's callback and errorCallback). */
  applyAsync<A extends unknown[], R>(fn: Fn<A, R>, args: A = [] as unknown as A, options: ApplyOptions<R> = {}): AsyncResult<R> {
    this.#d.checkOpen();
    if (!Array.isArray(args)) throw new TypeError('args must be an array');
    return new CallJob<R>(this.#d, this.#d.ship(fn), args, options).result;
  }

  // ---- many calls ----------------------------------------------------------------

  /** fn(item) for every item, in order; the input is read whole first. */
  async map<T, R>(fn: Fn<[T], R>, iterable: PoolInput<T>, options: MapOptions<R> = {}): Promise<R[]> {
    return this.mapAsync(fn, iterable, options).get();
  }

  /** fn(...args) for every argument list, in order. */
  async starmap<A extends unknown[], R>(fn: Fn<A, R>, iterable: PoolInput<A | Iterable<unknown>>, options: MapOptions<R> = {}): Promise<R[]> {
    return this.starmapAsync(fn, iterable, options).get();
  }

  mapAsync<T, R>(fn: Fn<[T], R>, iterable: PoolInput<T>, options: MapOptions<R> = {}): AsyncResult<R[]> {
    return this.#mapAsync(fn, iterable, Mode.Map, options);
  }

  starmapAsync<A extends unknown[], R>(fn: Fn<A, R>, iterable: PoolInput<A | Iterable<unknown>>, options: MapOptions<R> = {}): AsyncResult<R[]> {
    return this.#mapAsync(fn, iterable, Mode.Starmap, options);
  }

  #mapAsync<R>(fn: unknown, iterable: PoolInput<unknown>, mode: Mode.Map | Mode.Starmap, options: MapOptions<R>): AsyncResult<R[]> {
    this.#d.checkOpen();
    const shipped = this.#d.ship(fn);
    if (Array.isArray(iterable)) return new MapJob<R>(this.#d, shipped, iterable, mode, options).result;
    // Read the input first (it may be async); its error fails the call.
    const result = new AsyncResult<R[]>(options);
    readAll(iterable).then(
      (items) => new MapJob<R>(this.#d, shipped, items, mode, { ...options, callback: undefined, errorCallback: undefined }).result.get(),
    ).then(
      (value) => result._settle(true, value),
      (err: unknown) => result._settle(false, err),
    );
    return result;
  }

  /** fn(item) for every item, yielded in order as they complete; the input is read lazily. */
  imap<T, R>(fn: Fn<[T], R>, iterable: PoolInput<T>, options: IMapOptions = {}): IMapIterator<R> {
    this.#d.checkOpen();
    return new IMapIterator<R>(this.#d, this.#d.ship(fn), iterable, Mode.Map, true, options);
  }

  /** imap, yielding results in the order they complete. */
  imapUnordered<T, R>(fn: Fn<[T], R>, iterable: PoolInput<T>, options: IMapOptions = {}): IMapIterator<R> {
    this.#d.checkOpen();
    return new IMapIterator<R>(this.#d, this.#d.ship(fn), iterable, Mode.Map, false, options);
  }

  // ---- lifecycle ---------------------------------------------------------------

  /** No more tasks; the workers exit once the submitted ones are done. */
  close(): void {
    this.#d.close();
  }

  /** Stops the workers now; pending tasks reject with a ProcessError. */
  terminate(): void {
    this.#d.terminate(new ProcessError('the pool was terminated before this task completed'));
  }

  /** Waits for the workers to exit; call close() or terminate() first (RangeError otherwise, as Python's ValueError). */
  async join(): Promise<void> {
    if (!this.#d.closed) throw new RangeError('Pool is still running: call close() or terminate() before join()');
    await this.#d.join();
  }

  /** `await using pool = new Pool()`: terminate() and join() at the end of the scope, as Python's `with Pool()`. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.terminate();
    await this.#d.join();
  }
}
