// AsyncResult: Python's ApplyResult/MapResult. It is settled exactly once;
// nothing is reported as unhandled unless get() is called and not awaited.
import { TimeoutError } from '../errors.js';
import { MAX_TIMER_MS, timeoutMs } from '../options.js';

export interface ResultCallbacks<R> {
  /** Called with the result once it is ready (Python's callback). */
  callback?: (result: R) => void;
  /** Called with the error if the task failed (Python's error_callback). */
  errorCallback?: (error: unknown) => void;
}

/** Runs a user callback; one that throws is reported on stderr and the pool carries on (CPython stalls). */
export function runCallback(what: string, fn: () => void): void {
  try {
    fn();
  } catch (err) {
    process.stderr.write(`multiproc: a Pool ${what} threw (the pool carries on):\n${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  }
}

/** Resolves with `promise`, or rejects with TimeoutError after `timeout` ms (undefined: never). */
export function withTimeout<T>(promise: Promise<T>, timeout: unknown, message = 'timed out'): Promise<T> {
  let ms: number;
  try {
    ms = timeoutMs(timeout);
  } catch (err) {
    return Promise.reject(err);
  }
  if (ms === Infinity) return promise;
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new TimeoutError(message)), Math.min(ms, MAX_TIMER_MS));
    }),
  ]).finally(() => clearTimeout(timer));
}

export class AsyncResult<R = unknown> {
  #state: 'pending' | 'fulfilled' | 'rejected' = 'pending';
  #value: unknown;
  readonly #settled: Promise<void>;
  #markSettled!: () => void;
  readonly #callbacks: ResultCallbacks<R>;

  constructor(callbacks: ResultCallbacks<R> = {}) {
    this.#callbacks = callbacks;
    this.#settled = new Promise((resolve) => (this.#markSettled = resolve));
  }

  /** Settles once; later calls are ignored (returns whether this one counted). Package-internal. */
  _settle(ok: boolean, value: unknown): boolean {
    if (this.#state !== 'pending') return false;
    this.#state = ok ? 'fulfilled' : 'rejected';
    this.#value = value;
    this.#markSettled();
    const { callback, errorCallback } = this.#callbacks;
    if (ok && callback) runCallback('callback', () => callback(value as R));
    if (!ok && errorCallback) runCallback('errorCallback', () => errorCallback(value));
    return true;
  }

  /** The error it failed with, if it did (package-internal). */
  get _error(): unknown {
    return this.#state === 'rejected' ? this.#value : undefined;
  }

  /** Whether the call has completed. */
  ready(): boolean {
    return this.#state !== 'pending';
  }

  /** Whether the call completed without an error; RangeError if it is not ready (Python's ValueError). */
  successful(): boolean {
    if (this.#state === 'pending') throw new RangeError('the result is not ready');
    return this.#state === 'fulfilled';
  }

  /** The result when it arrives; the task's error if it failed; TimeoutError after `timeout` ms. */
  async get(timeout?: number): Promise<R> {
    await withTimeout(this.#settled, timeout, 'the result was not ready in time');
    if (this.#state === 'rejected') throw this.#value;
    return this.#value as R;
  }

  /** Waits until the result is ready or `timeout` ms pass (no error either way). */
  async wait(timeout?: number): Promise<void> {
    try {
      await withTimeout(this.#settled, timeout);
    } catch (err) {
      if (!(err instanceof TimeoutError)) throw err;
    }
  }
}
