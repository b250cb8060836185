// imap / imapUnordered: the input is read lazily, at most WINDOW chunks are
// in flight, and results are yielded as an async iterator — in input order
// (imap) or as they complete (imapUnordered). An endless generator works, and
// leaving the loop early (break, return, throw) drops the queued chunks.
// An error of a task, or of the input itself, surfaces at its position and
// ends the iteration.
import type { PoolBackend } from './backend.js';
import { argList, checkChunksize, encodeChunk, Job, type CancelOptions } from './jobs.js';
import { Mode, type ShippedFn } from './messages.js';

/** Chunks in flight per worker: enough to keep every worker busy while results travel. */
const CHUNKS_PER_WORKER = 8;
const MIN_WINDOW = 32;

export interface IMapOptions extends CancelOptions {
  chunksize?: number;
}

type Outcome<R> = { ok: true; items: R[] } | { ok: false; error: unknown };

export class IMapIterator<R> extends Job<void> implements AsyncIterableIterator<R> {
  readonly #fn: ShippedFn;
  readonly #mode: Mode.Map | Mode.Starmap;
  readonly #ordered: boolean;
  readonly #chunksize: number;
  readonly #window: number;
  readonly #source: Iterator<unknown> | AsyncIterator<unknown>;
  #chunksSent = 0;
  #sourceDone = false;
  #pumping = false;
  /** Ordered: outcomes by chunk number; unordered: in arrival order (keys 0, 1, ... of arrival). */
  readonly #arrived = new Map<number, Outcome<R>>();
  #arrivals = 0;
  /** The next chunk to yield (ordered), or the next arrival (unordered). */
  #next = 0;
  #current: R[] = [];
  #at = 0;
  #wakeConsumer: (() => void) | null = null;
  #finished = false;
  /** return() was called: the iteration ended without an error. */
  #returned = false;

  constructor(
    dispatcher: PoolBackend,
    fn: ShippedFn,
    iterable: Iterable<unknown> | AsyncIterable<unknown>,
    mode: Mode.Map | Mode.Starmap,
    ordered: boolean,
    options: IMapOptions,
  ) {
    super(dispatcher, options);
    this.#fn = fn;
    this.#mode = mode;
    this.#ordered = ordered;
    this.#chunksize = checkChunksize(options.chunksize) ?? dispatcher.chunksize ?? 1;
    this.#window = Math.max(MIN_WINDOW, dispatcher.processes * CHUNKS_PER_WORKER);
    const source = iterable as Partial<Iterable<unknown> & AsyncIterable<unknown>> | null | undefined;
    if (typeof source?.[Symbol.asyncIterator] === 'function') this.#source = source[Symbol.asyncIterator]!();
    else if (typeof source?.[Symbol.iterator] === 'function') this.#source = source[Symbol.iterator]!();
    else throw new TypeError(`the input must be iterable, got ${source === null ? 'null' : typeof source}`);
    if (this.begin()) void this.#pump();
  }

  /** Reads the input and submits chunks while fewer than the window are in flight. */
  async #pump(): Promise<void> {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (!this.done && !this.#sourceDone && this.seqs.size < this.#window) {
        const chunk: unknown[] = [];
        const start = this.#chunksSent * this.#chunksize;
        try {
          while (chunk.length < this.#chunksize) {
            let step = this.#source.next();
            if (step instanceof Promise) step = await step;
            if ((step as IteratorResult<unknown>).done) {
              this.#sourceDone = true;
              break;
            }
            const item = (step as IteratorResult<unknown>).value;
            chunk.push(this.#mode === Mode.Starmap ? argList(item, start + chunk.length) : item);
          }
          if (this.done) return;
          if (chunk.length > 0) this.submit(this.#fn, this.#mode, this.encode(() => encodeChunk(this.#fn, chunk, 0, chunk.length, start)), this.#chunksSent++);
        } catch (err) {
          // The input (or an unsendable item) fails at this chunk's position.
          this.#sourceDone = true;
          this.#arrive(this.#chunksSent++, { ok: false, error: err });
        }
      }
    } finally {
      this.#pumping = false;
    }
    this.#wake();
  }

  protected onTask(chunk: number, ok: boolean, value: unknown): void {
    this.#arrive(chunk, ok ? { ok: true, items: value as R[] } : { ok: false, error: value });
    void this.#pump();
  }

  #arrive(chunk: number, outcome: Outcome<R>): void {
    this.#arrived.set(this.#ordered ? chunk : this.#arrivals++, outcome);
    this.#wake();
  }

  #wake(): void {
    const wake = this.#wakeConsumer;
    this.#wakeConsumer = null;
    wake?.();
  }

  async next(): Promise<IteratorResult<R>> {
    for (;;) {
      if (this.#at < this.#current.length) return { done: false, value: this.#current[this.#at++] };
      if (this.#finished) return { done: true, value: undefined };
      if (this.done) {
        // Cancelled (signal, timeout) or ended by return(): the reason once, then done.
        this.#finished = true;
        const reason = await this.result.get().then(() => null, (err: unknown) => ({ err }));
        if (reason && !this.#returned) throw reason.err;
        return { done: true, value: undefined };
      }
      const outcome = this.#arrived.get(this.#next);
      if (outcome) {
        this.#arrived.delete(this.#next++);
        if (!outcome.ok) {
          this.#finished = true;
          this.finish(false, outcome.error);
          throw outcome.error;
        }
        this.#current = outcome.items;
        this.#at = 0;
        continue;
      }
      if (this.#sourceDone && this.#next >= this.#chunksSent) {
        this.#finished = true;
        this.finish(true, undefined);
        return { done: true, value: undefined };
      }
      await new Promise<void>((resolve) => (this.#wakeConsumer = resolve));
    }
  }

  /** Leaving the loop early: queued chunks are dropped (running ones finish unseen). */
  async return(): Promise<IteratorResult<R>> {
    this.#returned = true;
    this.#finished = true;
    this.finish(false, new Error('the iteration was ended early'));
    return { done: true, value: undefined };
  }

  protected override ended(): void {
    this.#wake();
    const source = this.#source;
    if (!this.#sourceDone && typeof source.return === 'function') {
      this.#sourceDone = true;
      try {
        const r = source.return();
        if (r instanceof Promise) r.catch(() => {});
      } catch {
        /* the input's own cleanup failed: nothing more to do */
      }
    }
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
