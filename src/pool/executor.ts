// PoolExecutor: concurrent.futures.ProcessPoolExecutor's shape on the same
// dispatcher as Pool. As Python's, it breaks for good when a worker dies
// unasked: every pending future fails with BrokenPoolError and later submits
// throw it.
import type { ResourceLimits } from 'node:worker_threads';
import { contextMethod, type ContextLike, type StartMethod } from '../context.js';
import { CancelledError, ProcessError } from '../errors.js';
import { toTaskSpec, type Target } from '../process/task.js';
import { withTimeout } from './async-result.js';
import { BACKEND, type PoolBackend, type WithBackend } from './backend.js';
import { Dispatcher } from './dispatcher.js';
import { IMapIterator } from './imap.js';
import { CallJob } from './jobs.js';
import { Mode } from './messages.js';
import { checkWorkers } from './pool.js';

export interface PoolExecutorOptions {
  /** Number of workers; default cpuCount(). */
  maxWorkers?: number;
  initializer?: Target;
  initargs?: unknown[];
  /** A worker is replaced after this many tasks; default: never. */
  maxTasksPerChild?: number;
  context?: ContextLike;
  /** Thread workers only: worker_threads' heap limits. */
  resourceLimits?: ResourceLimits;
}

export interface ExecutorMapOptions {
  /** Items per task (default 1). */
  chunksize?: number;
  /** Milliseconds from the map() call: a result not ready by then fails the iteration with TimeoutError. */
  timeout?: number;
}

export interface ShutdownOptions {
  /** Wait for the pending futures and the workers (default true). */
  wait?: boolean;
  /** Cancel the futures no worker has started (default false). */
  cancelFutures?: boolean;
}

/** The result of submit(): awaitable, and as concurrent.futures.Future. */
export class Future<R = unknown> implements PromiseLike<R> {
  readonly #job: CallJob<R>;
  readonly #dispatcher: PoolBackend;
  #cancelled = false;

  /** Package-internal: made by PoolExecutor.submit(). */
  constructor(dispatcher: PoolBackend, job: CallJob<R>) {
    this.#dispatcher = dispatcher;
    this.#job = job;
  }

  /** Cancels the call unless a worker has started it (then false, as Python). */
  cancel(): boolean {
    if (this.#cancelled) return true;
    if (this.done() || this.running()) return false;
    this.#cancelled = true;
    this.#job.finish(false, new CancelledError('the future was cancelled'));
    return true;
  }

  cancelled(): boolean {
    return this.#cancelled || this.#job.result._error instanceof CancelledError;
  }

  /** A worker is running it now. */
  running(): boolean {
    const seq = this.#job.seq;
    return !this.done() && seq !== undefined && this.#dispatcher.isRunning(seq);
  }

  done(): boolean {
    return this.#job.done;
  }

  /** The result; the call's error; CancelledError if cancelled; TimeoutError after `timeout` ms. */
  result(timeout?: number): Promise<R> {
    return this.#job.result.get(timeout);
  }

  /** The call's error, or null if it succeeded (CancelledError is thrown, as Python). */
  async exception(timeout?: number): Promise<unknown> {
    await withTimeout(this.#job.result.wait(), timeout, 'the future was not done in time');
    if (this.cancelled()) throw new CancelledError('the future was cancelled');
    return this.#job.result.successful() ? null : await this.result().catch((err: unknown) => err);
  }

  /** Calls fn(future) once it is done (at once if it is); an fn that throws is reported on stderr. */
  addDoneCallback(fn: (future: Future<R>) => void): void {
    void this.#job.result.wait().then(() => {
      try {
        fn(this);
      } catch (err) {
        process.stderr.write(`multiproc: a Future done callback threw:\n${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      }
    });
  }

  // biome-ignore lint/suspicious/noThenProperty: a Future is awaitable, as concurrent.futures' is with asyncio.wrap_future
  then<A = R, B = never>(onFulfilled?: ((value: R) => A | PromiseLike<A>) | null, onRejected?: ((reason: unknown) => B | PromiseLike<B>) | null): Promise<A | B> {
    return this.result().then(onFulfilled, onRejected);
  }
}

function isIterable(value: unknown): boolean {
  return (
    value !== null &&
    value !== undefined &&
    (typeof (value as Iterable<unknown>)[Symbol.iterator] === 'function' || typeof (value as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function')
  );
}

/** Python's zip(): argument lists until the shortest input ends. */
async function* zipInputs(inputs: (Iterable<unknown> | AsyncIterable<unknown>)[]): AsyncGenerator<unknown[]> {
  const its = inputs.map((it) =>
    typeof (it as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function'
      ? (it as AsyncIterable<unknown>)[Symbol.asyncIterator]()
      : (it as Iterable<unknown>)[Symbol.iterator](),
  );
  try {
    for (;;) {
      const args: unknown[] = [];
      for (const it of its) {
        const step = await it.next();
        if (step.done) return;
        args.push(step.value);
      }
      yield args;
    }
  } finally {
    for (const it of its) void Promise.resolve(it.return?.()).catch(() => {});
  }
}

export class PoolExecutor implements AsyncDisposable {
  /** Set by context-bound subclasses (getContext('process').PoolExecutor). */
  static defaultContext: StartMethod | undefined;

  readonly #d: PoolBackend;
  readonly #pending = new Set<Promise<unknown>>();
  #shutdown = false;

  constructor(options: PoolExecutorOptions = {}) {
    if (options === null || typeof options !== 'object') throw new TypeError('new PoolExecutor(options): options must be an object');
    const backend = (options as WithBackend)[BACKEND];
    if (backend) {
      this.#d = backend;
      return;
    }
    const maxtasks = options.maxTasksPerChild ?? 0;
    if (!Number.isInteger(maxtasks) || maxtasks < 0) throw new RangeError('maxTasksPerChild must be a positive integer');
    const initargs = options.initargs ?? [];
    if (!Array.isArray(initargs)) throw new TypeError('initargs must be an array');
    this.#d = new Dispatcher({
      processes: checkWorkers(options.maxWorkers, 'maxWorkers'),
      method: contextMethod(options.context ?? (new.target as typeof PoolExecutor).defaultContext),
      initializer: options.initializer === undefined ? undefined : toTaskSpec(options.initializer, 'initializer'),
      initargs,
      maxtasks,
      resourceLimits: options.resourceLimits,
      breakOnDeath: true,
    });
  }

  #checkOpen(): void {
    if (this.#d.broken) throw this.#d.broken;
    if (this.#shutdown) throw new ProcessError('cannot schedule new futures after shutdown: the executor is closed');
  }

  /** Schedules fn(...args); returns its Future. */
  submit<A extends unknown[], R>(fn: ((...args: A) => R | PromiseLike<R>) | Target, ...args: A): Future<Awaited<R>> {
    this.#checkOpen();
    const job = new CallJob<Awaited<R>>(this.#d, this.#d.ship(fn), args, {});
    const settled = job.result.wait();
    this.#pending.add(settled);
    void settled.then(() => this.#pending.delete(settled));
    return new Future(this.#d, job);
  }

  /**
   * fn(...args) over the inputs zipped (as Python's map(fn, *iterables)),
   * yielded in order. Options may follow the inputs: { chunksize, timeout }.
   */
  map<R>(fn: ((...args: any[]) => R | PromiseLike<R>) | Target, ...inputs: unknown[]): AsyncIterableIterator<Awaited<R>> {
    this.#checkOpen();
    const last = inputs[inputs.length - 1];
    const options: ExecutorMapOptions = inputs.length > 0 && typeof last === 'object' && last !== null && !isIterable(last) ? (inputs.pop() as ExecutorMapOptions) : {};
    inputs.forEach((input, i) => {
      if (!isIterable(input)) throw new TypeError(`map: argument ${i + 2} is not iterable`);
    });
    return new IMapIterator<Awaited<R>>(this.#d, this.#d.ship(fn), zipInputs(inputs as Iterable<unknown>[]), Mode.Starmap, true, options);
  }

  /**
   * No new futures. With cancelFutures, futures no worker has started are
   * cancelled; with wait (the default), resolves once every pending future is
   * done and the workers have exited.
   */
  async shutdown(options: ShutdownOptions = {}): Promise<void> {
    const { wait = true, cancelFutures = false } = options;
    this.#shutdown = true;
    if (cancelFutures) this.#d.cancelQueued(new CancelledError('the future was cancelled by shutdown({ cancelFutures: true })'));
    this.#d.close();
    if (wait) {
      await Promise.all(this.#pending);
      await this.#d.join();
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown({ wait: true });
  }
}
