// Running a pool task, wherever it came from: a local pool worker (from the
// task ring) or a cluster pool's worker child (from Redis). Functions are
// loaded once per fnId; a chunk runs its calls one after the other; the
// outcome is encoded right before it is written (the result message may
// be a view of the encoder's scratch buffer).
import { decodeLoadingTypes } from '../codec/load-types.js';
import { state } from '../process/state.js';
import { explainTaskError, loadTask, type TaskSpec } from '../process/task.js';
import { encodeResult, Mode, Status } from './messages.js';

type Fn = (...args: unknown[]) => unknown;

const isThenable = (v: unknown): v is PromiseLike<unknown> => typeof (v as PromiseLike<unknown> | null)?.then === 'function';

/** What the runner needs of a task message. */
export interface RunnableTask {
  fnId: number;
  /** The function's spec; only needed while the runner does not know fnId. */
  spec: TaskSpec | undefined;
  mode: Mode;
}

/** An error's result message; one that cannot be sent whole goes as a plain Error with its name, message and stack. */
export function errorResult(seq: number, status: Status, err: unknown): Uint8Array {
  try {
    return encodeResult(seq, status, err, 'error');
  } catch {
    const e = err instanceof Error ? err : new Error(String(err));
    const plain = new Error(e.message);
    plain.name = e.name;
    plain.stack = e.stack;
    return encodeResult(seq, status, plain, 'error');
  }
}

/** A task's result message: its value, or the error, or why the value could not be sent. */
export function resultOf(seq: number, status: Status.Ok | Status.Error, value: unknown): Uint8Array {
  if (status === Status.Error) return errorResult(seq, status, value);
  try {
    return encodeResult(seq, Status.Ok, value, 'result');
  } catch (err) {
    return errorResult(seq, Status.Error, err); // unsendable: a TypeError naming the culprit
  }
}

export class TaskRunner {
  readonly #fns = new Map<number, { fn: Fn; spec: TaskSpec }>();
  /** The spec of the task running (or last run): what an error that kills the worker is explained by. */
  spec: TaskSpec | undefined;

  /** Whether the function `fnId` is loaded (a task message then need not carry its spec). */
  knows(fnId: number): boolean {
    return this.#fns.has(fnId);
  }

  /** Runs a task whose payload `payloadOf()` decodes; returns its outcome. */
  async run(task: RunnableTask, payloadOf: () => unknown): Promise<[Status.Ok | Status.Error, unknown]> {
    this.spec = undefined;
    try {
      let known = this.#fns.get(task.fnId);
      if (!known) {
        const taskSpec = task.spec!; // read with the message: the function was not known then
        known = { fn: (await loadTask(taskSpec, state.entry)) as Fn, spec: taskSpec };
        this.#fns.set(task.fnId, known);
      }
      const fn = known.fn;
      this.spec = known.spec;
      let payload = decodeLoadingTypes(payloadOf);
      if (payload instanceof Promise) payload = await payload; // (values never decode to a Promise)
      let result: unknown;
      if (task.mode === Mode.Apply) {
        result = fn(...(payload as unknown[]));
        if (isThenable(result)) result = await result;
      } else {
        const items = payload as unknown[];
        const out = new Array<unknown>(items.length);
        for (let i = 0; i < items.length; i++) {
          let r = task.mode === Mode.Map ? fn(items[i]) : fn(...(items[i] as unknown[]));
          if (isThenable(r)) r = await r;
          out[i] = r;
        }
        result = out;
      }
      return [Status.Ok, result];
    } catch (err) {
      return [Status.Error, this.explain(err)];
    }
  }

  /** `err`, explained by the running task's spec when there is one. */
  explain(err: unknown): unknown {
    return this.spec ? explainTaskError(err, this.spec) : err;
  }
}
