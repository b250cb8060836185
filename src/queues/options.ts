// Options shared by the blocking calls of queues (Python's block/timeout, plus signal).
export interface BlockingOptions {
  /** false: do not wait at all (Python's block=False). Default true. */
  block?: boolean;
  /** Milliseconds; undefined waits forever. */
  timeout?: number;
  /** An aborted signal rejects with its reason. */
  signal?: AbortSignal;
}

export function checkOptions(options: BlockingOptions | undefined): BlockingOptions {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object { block?, timeout?, signal? }');
  const { timeout } = options;
  if (timeout !== undefined && (typeof timeout !== 'number' || Number.isNaN(timeout))) {
    throw new TypeError(`timeout must be a number of milliseconds, got ${typeof timeout}`);
  }
  if (timeout !== undefined && timeout < 0) throw new RangeError("'timeout' must be a non-negative number");
  return options;
}

/** Date.now() by which a wait with these options gives up. */
export function deadlineOf(options: BlockingOptions): number {
  if (options.block === false) return -Infinity;
  return options.timeout === undefined ? Infinity : Date.now() + options.timeout;
}

export function msLeft(deadline: number): number {
  return deadline === Infinity ? Infinity : Math.max(0, deadline - Date.now());
}
