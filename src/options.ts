// The options of every blocking call, parsed by one rule: Python's block and
// timeout, plus an AbortSignal.
// - `timeout` is in milliseconds; undefined, null and Infinity wait forever.
//   A negative timeout has no time left: the call tries once and does not
//   wait (as Python's wait(), join() and Condition.wait() treat it; its Queue
//   raises instead, but a computed `deadline - now` that went negative is not
//   a mistake). A timeout that is not a number is a TypeError.
// - `block: false` tries once and does not wait, whatever the timeout.
// - `signal`: an aborted signal rejects the call with its reason.
// A bare number where options are accepted is a timeout.
import { SLICE_MS } from './shm/wait-policy.js';

/** Options of every blocking call: Python's block and timeout (ms), plus an AbortSignal. */
export interface BlockingOptions {
  /** false: do not wait at all (Python's block=False). Default true. */
  block?: boolean;
  /** Milliseconds; undefined waits forever, a negative timeout does not wait. */
  timeout?: number;
  /** An aborted signal rejects with its reason. */
  signal?: AbortSignal;
}

/** The same options under the name the lock classes used. */
export type AcquireOptions = BlockingOptions;

/** setTimeout's longest delay; a longer one would fire at once. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A checked timeout in ms (Infinity: forever; never negative). */
export function timeoutMs(timeout: unknown, what = 'timeout'): number {
  if (timeout === undefined || timeout === null) return Infinity;
  if (typeof timeout !== 'number' || Number.isNaN(timeout)) throw new TypeError(`${what} must be a number of milliseconds, got ${typeof timeout}`);
  return Math.max(0, timeout);
}

/** Checks the options; returns the Date.now() by which the call gives up (-Infinity: try once; Infinity: never). */
export function deadlineOf(options: BlockingOptions | number | null | undefined, what = 'timeout'): number {
  if (options === undefined) return Infinity; // the common case: nothing to check, nothing allocated
  if (typeof options === 'number' || options === null) return deadlineIn(timeoutMs(options, what));
  if (typeof options !== 'object') throw new TypeError('options must be an object { block?, timeout?, signal? }');
  const ms = timeoutMs(options.timeout, what);
  return options.block === false ? -Infinity : deadlineIn(ms);
}

function deadlineIn(ms: number): number {
  return ms === Infinity ? Infinity : Date.now() + ms;
}

export function signalOf(options: BlockingOptions | number | null | undefined): AbortSignal | undefined {
  return typeof options === 'object' && options !== null ? options.signal : undefined;
}

/** ms left until `deadline` (0 when past; Infinity for none). */
export function msLeft(deadline: number): number {
  return deadline === Infinity ? Infinity : Math.max(0, deadline - Date.now());
}

/** ms left until `deadline`, capped to one slice (waits re-check liveness after each). */
export function sliceUntil(deadline: number): number {
  return Math.min(SLICE_MS, msLeft(deadline));
}
