// Jobs: what one call of a pool method submits. A job owns its tasks' seqs,
// settles its AsyncResult exactly once, and cancels what is left of it when
// it ends early (an error, a signal, a timeout).
import { decodeInto, encode, encodeReserved, encodeSlice, portably } from '../codec/codec.js';
import { encodeUndoably } from '../codec/undo.js';
import { TimeoutError } from '../errors.js';
import { AsyncResult, runCallback, type ResultCallbacks } from './async-result.js';
import { MAX_TIMER_MS, timeoutMs } from '../options.js';
import type { PoolBackend } from './backend.js';
import { Mode, RESULT_HEADER, taskReserve, type ShippedFn } from './messages.js';
import { progressReporter, type ProgressOption } from './progress.js';

export interface CancelOptions {
  /** (+) Cancels the call: a queued task is dropped, a running one's worker is replaced. */
  signal?: AbortSignal;
  /** (+) Milliseconds: on expiry the call fails with TimeoutError, as with signal. */
  timeout?: number;
}

export abstract class Job<R> {
  readonly id: number;
  /** Seqs of this job's tasks still in flight. */
  readonly seqs = new Set<number>();
  readonly result: AsyncResult<R>;
  protected readonly dispatcher: PoolBackend;
  #timer: NodeJS.Timeout | undefined;
  #signal: AbortSignal | undefined;
  readonly #timeout: number;
  readonly #onAbort = () => this.cancel(this.#signal!.reason);

  constructor(dispatcher: PoolBackend, options: CancelOptions & ResultCallbacks<R> = {}) {
    this.dispatcher = dispatcher;
    this.id = dispatcher.newJob();
    this.result = new AsyncResult<R>(options);
    this.#timeout = timeoutMs(options.timeout);
    this.#signal = options.signal;
  }

  /**
   * Called by each subclass once it is built: arms the signal and the
   * timeout. Returns false (the job has failed) if the pool cannot take
   * tasks or the signal is already aborted.
   */
  protected begin(): boolean {
    const signal = this.#signal;
    try {
      this.dispatcher.checkOpen();
    } catch (err) {
      this.finish(false, err);
      return false;
    }
    if (signal?.aborted) {
      this.finish(false, signal.reason);
      return false;
    }
    signal?.addEventListener('abort', this.#onAbort, { once: true });
    const timeout = this.#timeout;
    if (timeout !== Infinity) this.#timer = setTimeout(() => this.cancel(new TimeoutError(`the pool call did not complete in ${timeout} ms`)), Math.min(timeout, MAX_TIMER_MS));
    return true;
  }

  get done(): boolean {
    return this.result.ready();
  }

  /** Submits one task of this job; `index` tells onTask which one it was. */
  protected submit(fn: ShippedFn, mode: Mode, payload: Uint8Array, index: number, raw = false): void {
    const seq = this.dispatcher.submit(
      this.id,
      fn,
      mode,
      payload,
      (ok, value) => {
        this.seqs.delete(seq);
        if (!this.done) this.onTask(index, ok, value);
      },
      raw,
    );
    this.seqs.add(seq);
  }

  /** Runs an encoding of this job's arguments under the backend's rule (portable: no shareables). */
  protected encode(build: () => Uint8Array): Uint8Array {
    return this.dispatcher.portable ? portably(build) : build();
  }

  /** A task's outcome arrived (only while the job is not done). */
  protected abstract onTask(index: number, ok: boolean, value: unknown): void;

  /**
   * Settles the job once. When it fails, its queued tasks are dropped; with
   * `killRunning`, the workers running its tasks are replaced too.
   */
  finish(ok: boolean, value: unknown, killRunning = false): void {
    if (!this.result._settle(ok, value)) return;
    clearTimeout(this.#timer);
    this.#signal?.removeEventListener('abort', this.#onAbort);
    if (!ok && this.seqs.size > 0) this.dispatcher.cancel(this.id, killRunning ? this.seqs : new Set());
    this.ended(ok, value);
  }

  /** Hook: the job has just settled. */
  protected ended(_ok: boolean, _value: unknown): void {}

  /** A signal or timeout: the job fails with `reason` and its running tasks' workers are replaced. */
  cancel(reason: unknown): void {
    this.finish(false, reason, true);
  }
}

/** apply / applyAsync / submit: one call fn(...args). */
export class CallJob<R> extends Job<R> {
  constructor(dispatcher: PoolBackend, fn: ShippedFn, args: unknown[], options: CancelOptions & ResultCallbacks<R>) {
    super(dispatcher, options);
    if (!this.begin()) return;
    try {
      this.submit(fn, Mode.Apply, this.encode(() => encodeReserved(args, 'args', taskReserve(fn), true)), 0);
    } catch (err) {
      this.finish(false, err);
    }
  }

  /** Seq of the only task (undefined once it settled). */
  get seq(): number | undefined {
    return this.seqs.values().next().value;
  }

  protected onTask(_index: number, ok: boolean, value: unknown): void {
    this.finish(ok, value);
  }
}

/**
 * Encodes items[start..end) as the payload of a task of `fn`, in the
 * encoder's scratch buffer (submit it at once); an unsendable item is named
 * by its position in the whole input (items[0] being the input's item
 * number `base`).
 */
export function encodeChunk(fn: ShippedFn, items: unknown[], start: number, end: number, base = 0): Uint8Array {
  try {
    return encodeSlice(items, start, end, 'items', taskReserve(fn), true);
  } catch (err) {
    // Throws the precise error; what the items encoded before it carry is undone.
    const [, undo] = encodeUndoably(() => {
      for (let i = start; i < end; i++) encode(items[i], `items[${base + i}]`);
    });
    undo?.();
    throw err;
  }
}

/** Python's default map chunksize: ceil(n / (4 × processes)). */
export function defaultChunksize(n: number, processes: number): number {
  return Math.max(1, Math.ceil(n / (processes * 4)));
}

export function checkChunksize(chunksize: unknown): number | undefined {
  if (chunksize === undefined || chunksize === null) return undefined;
  if (!Number.isInteger(chunksize) || (chunksize as number) < 1) throw new RangeError(`chunksize must be a positive integer, got ${String(chunksize)}`);
  return chunksize as number;
}

/** Starmap's argument lists: each item must be iterable. */
export function argList(item: unknown, position: number): unknown[] {
  if (Array.isArray(item)) return item;
  if (item !== null && item !== undefined && typeof (item as Iterable<unknown>)[Symbol.iterator] === 'function') return [...(item as Iterable<unknown>)];
  throw new TypeError(`starmap: item ${position} is not an iterable of arguments (got ${item === null ? 'null' : typeof item})`);
}

export interface MapOptions<R> extends CancelOptions, ResultCallbacks<R[]> {
  chunksize?: number;
  /** (+) true: a progress bar on stderr when it is a terminal; a function gets { done, total }. */
  progress?: ProgressOption;
}

/** map / starmap / mapAsync / starmapAsync over an input already read whole. */
export class MapJob<R> extends Job<R[]> {
  /** The results, filled in place as chunks complete (each decodes straight into it). */
  readonly #out: R[];
  #chunksLeft = 0;
  #itemsDone = 0;
  readonly #report: ((done: number) => void) | null;

  constructor(dispatcher: PoolBackend, fn: ShippedFn, items: unknown[], mode: Mode.Map | Mode.Starmap, options: MapOptions<R>) {
    super(dispatcher, options);
    this.#out = new Array<R>(items.length);
    this.#report = progressReporter(options.progress, items.length);
    if (!this.begin()) return;
    try {
      const chunksize = checkChunksize(options.chunksize) ?? dispatcher.chunksize ?? defaultChunksize(items.length, dispatcher.processes);
      if (items.length === 0) {
        this.#report?.(0);
        this.finish(true, this.#out);
        return;
      }
      if (mode === Mode.Starmap) items = items.map(argList);
      this.#chunksLeft = Math.ceil(items.length / chunksize);
      for (let start = 0; start < items.length; start += chunksize) {
        const end = Math.min(items.length, start + chunksize);
        this.submit(fn, mode, this.encode(() => encodeChunk(fn, items, start, end)), start, true);
      }
    } catch (err) {
      this.finish(false, err);
    }
  }

  protected onTask(start: number, ok: boolean, value: unknown): void {
    if (!ok) {
      this.finish(false, value); // Python: the first failed chunk fails the map; running chunks finish unseen
      return;
    }
    try {
      this.#itemsDone += decodeInto(value as Uint8Array, this.#out, start, RESULT_HEADER);
    } catch (err) {
      this.finish(false, err);
      return;
    }
    if (this.#report) runCallback('progress callback', () => this.#report!(this.#itemsDone));
    if (--this.#chunksLeft === 0) this.finish(true, this.#out);
  }
}

/** Reads a sync or async iterable whole (map's input is read eagerly, as Python's). */
export async function readAll(iterable: Iterable<unknown> | AsyncIterable<unknown>): Promise<unknown[]> {
  if (Array.isArray(iterable)) return iterable;
  if (iterable === null || iterable === undefined) throw new TypeError(`the input must be iterable, got ${String(iterable)}`);
  if (typeof (iterable as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function') {
    const out: unknown[] = [];
    for await (const item of iterable as AsyncIterable<unknown>) out.push(item);
    return out;
  }
  if (typeof (iterable as Iterable<unknown>)[Symbol.iterator] !== 'function') throw new TypeError(`the input must be iterable, got ${typeof iterable}`);
  return [...(iterable as Iterable<unknown>)];
}
