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
export function runAsync<T>(op: Operation<T>, signal?: AbortSignal): Promise<T> {
  return signal?.aborted ? driveAsync(op, op.throw(signal.reason), undefined) : driveAsync(op, op.next(), signal);
}

/**
 * runAsync() for a caller that awaits the result: when the operation finishes
 * without waiting (the common case of a get or a lock), its value comes back
 * as it is, with no promise made for it.
 */
export function runAwaitable<T>(op: Operation<T>, signal?: AbortSignal): T | Promise<T> {
  if (signal?.aborted) return runAsync(op, signal);
  const step = op.next();
  return step.done ? step.value : driveAsync(op, step, signal);
}

async function driveAsync<T>(op: Operation<T>, first: IteratorResult<Sleep, T>, signal: AbortSignal | undefined): Promise<T> {
  let step = first;
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

/**
 * Runs the start of an async call so that an error thrown while checking its
 * arguments (a TypeError for a bad timeout, ProcessError for misuse) rejects
 * the returned promise instead of throwing synchronously — as every other
 * async call of the package.
 */
export function rejecting<T>(start: () => Promise<T>): Promise<T> {
  try {
    return start();
  } catch (err) {
    return Promise.reject(err);
  }
}
