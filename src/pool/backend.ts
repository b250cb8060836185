// What Pool, PoolExecutor and their jobs stand on: something that runs
// framed tasks somewhere and settles each exactly once. The local
// Dispatcher runs them in this machine's workers over shared memory; the
// cluster pool (multiproc/redis) runs them on worker hosts through Redis.
// Both ship functions and read result messages the same way (below).
import { BrokenPoolError } from '../errors.js';
import type { Process } from '../process/process.js';
import { toTaskSpec } from '../process/task.js';
import { type Mode, resultPayload, shipFn, Status, type ShippedFn } from './messages.js';

/** How a task's outcome reaches its job: ok and the result, or not and the error. */
export type Settle = (ok: boolean, value: unknown) => void;

export interface PoolBackend {
  /** Workers the backend runs tasks on (default chunk sizes and imap windows scale with it). */
  readonly processes: number;
  /** The chunk size map and imap use when the call gives none (else map uses Python's rule, imap 1). */
  readonly chunksize?: number;
  /** Tasks cross machines: their arguments may hold no shareable objects (encodePortable's rule). */
  readonly portable?: boolean;
  readonly broken: Error | null;
  readonly closed: boolean;
  /** Local workers' Process objects (none for a cluster). */
  readonly workers: Process[];
  /** Called once when the backend breaks. */
  onBroken: (err: Error) => void;
  newJob(): number;
  ship(fn: unknown): ShippedFn;
  /** Throws when no task can be submitted now. */
  checkOpen(): void;
  /**
   * Queues one task: `message` is its payload encoded after taskReserve(fn)
   * bytes, possibly in the encoder's scratch buffer (written or copied
   * before this returns). `settle` is called exactly once; with `raw`, a
   * successful result reaches it as the whole result message, which may be
   * valid only during the call. Returns its seq.
   */
  submit(jobId: number, fn: ShippedFn, mode: Mode, message: Uint8Array, settle: Settle, raw?: boolean): number;
  /** Cancels a job: its queued tasks are skipped, and those of `seqs` that run are stopped where the backend can. */
  cancel(jobId: number, seqs: ReadonlySet<number>): void;
  /** Fails every task no worker has taken with `reason`. */
  cancelQueued(reason: Error): void;
  /** Whether a worker has taken task `seq` (as far as this backend can know). */
  isRunning(seq: number): boolean;
  close(): void;
  terminate(reason: Error): void;
  join(): Promise<void>;
}

/**
 * An options key (not exported from the package) through which
 * multiproc/redis hands Pool and PoolExecutor a backend of its own.
 */
export const BACKEND: unique symbol = Symbol('multiproc.poolBackend');
export type WithBackend = { [BACKEND]?: PoolBackend };

/** Job ids, never 0 (so a zeroed cancel table cancels nothing). */
export class JobIds {
  #next = 1;

  next(): number {
    const id = this.#next;
    this.#next = this.#next >= 0x7fffffff ? 1 : this.#next + 1;
    return id;
  }
}

/** Functions as a pool ships them: one ShippedFn (id and encoded spec) per distinct function. */
export class FnRegistry {
  readonly #byFn = new WeakMap<object, ShippedFn>();
  readonly #byKey = new Map<string, ShippedFn>();

  /** A function, task(url, name) or TaskSpec as the pool ships it; TypeError for anything else. */
  ship(fn: unknown): ShippedFn {
    if ((typeof fn === 'function' || (typeof fn === 'object' && fn !== null)) && this.#byFn.has(fn)) return this.#byFn.get(fn)!;
    const spec = toTaskSpec(fn, 'fn');
    const key = spec.kind === 'source' ? `s${spec.source}` : `m${spec.url}#${spec.exportName}`;
    let shipped = this.#byKey.get(key);
    if (!shipped) this.#byKey.set(key, (shipped = shipFn(this.#byKey.size + 1, spec)));
    this.#byFn.set(fn as object, shipped);
    return shipped;
  }
}

/** The error a result message carries (or the error decoding it raised). */
export function resultError(bytes: Uint8Array): Error {
  try {
    const err = resultPayload(bytes);
    return err instanceof Error ? err : new Error(String(err));
  } catch (err) {
    return err as Error;
  }
}

/** Settles a task from its result message (any status but InitFailed). */
export function settleFromResult(status: Status, bytes: Uint8Array, settle: Settle, raw: boolean): void {
  if (status === Status.Ok && raw) settle(true, bytes);
  else if (status === Status.Ok) {
    let value: unknown;
    try {
      value = resultPayload(bytes);
    } catch (err) {
      settle(false, err);
      return;
    }
    settle(true, value);
  } else if (status === Status.Error) settle(false, resultError(bytes));
  else if (status === Status.Dying) {
    const err = resultError(bytes);
    settle(false, new BrokenPoolError(`the pool worker died while running this task: ${err.name}: ${err.message}`, { cause: err }));
  }
}
