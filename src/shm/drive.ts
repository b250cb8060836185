// One implementation for both forms of every blocking call: an operation is a
// generator that yields "sleep while i32[index] === expected, at most ms"
// requests and returns its result; runSync() drives it with blocking waits,
// runAsync() with awaited ones (and an AbortSignal). Fast paths run before any
// generator is made, so an uncontended call allocates nothing.
import { waitAsync, waitSync } from './wait.js';

export interface Sleep {
  i32: Int32Array;
  index: number;
  expected: number;
  ms: number;
}

export type Operation<T> = Generator<Sleep, T, void>;

/** Options of every blocking call: Python's block and timeout (ms), plus an AbortSignal. */
export interface AcquireOptions {
  block?: boolean;
  timeout?: number;
  signal?: AbortSignal;
}

/** Longest single sleep: waits re-check liveness (dead holders, dead parties) this often. */
export const SLICE_MS = 100;

export function runSync<T>(op: Operation<T>): T {
  for (let step = op.next(); ; step = op.next()) {
    if (step.done) return step.value;
    const s = step.value;
    waitSync(s.i32, s.index, s.expected, s.ms);
  }
}

/**
 * Drives `op` with awaited waits. An aborted signal is thrown into the
 * operation, whose finally blocks still run to the end — they may wait too
 * (a Condition re-acquires its lock) — and then the abort reason is thrown.
 */
export async function runAsync<T>(op: Operation<T>, signal?: AbortSignal): Promise<T> {
  let step = signal?.aborted ? op.throw(signal.reason) : op.next();
  let sig = signal;
  for (;;) {
    if (step.done) return step.value;
    const s = step.value;
    try {
      await waitAsync(s.i32, s.index, s.expected, s.ms, sig);
      step = op.next();
    } catch (err) {
      sig = undefined; // the cleanup after an abort is not abortable
      step = op.throw(err);
    }
  }
}

/** Checks options as Python checks block/timeout; returns the deadline (Date.now() based). */
export function deadlineOf(options: AcquireOptions | number | undefined, what = 'timeout'): number {
  if (options === undefined) return Infinity; // the common case: nothing to check, nothing allocated
  const opts = typeof options === 'number' || options === undefined ? { timeout: options } : options;
  if (typeof opts !== 'object' || opts === null) throw new TypeError('options must be an object { block?, timeout?, signal? }');
  const { timeout } = opts;
  if (timeout !== undefined && timeout !== null && (typeof timeout !== 'number' || Number.isNaN(timeout))) {
    throw new TypeError(`${what} must be a number of milliseconds, got ${typeof timeout}`);
  }
  if (opts.block === false) return -Infinity;
  if (timeout === undefined || timeout === null || timeout === Infinity) return Infinity;
  return Date.now() + Math.max(0, timeout);
}

export function signalOf(options: AcquireOptions | number | undefined): AbortSignal | undefined {
  return typeof options === 'object' && options !== null ? options.signal : undefined;
}

/** ms left until `deadline`, capped to one slice. */
export function sliceUntil(deadline: number): number {
  return Math.min(SLICE_MS, Math.max(0, deadline - Date.now()));
}
