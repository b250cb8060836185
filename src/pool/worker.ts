// A pool worker: the target of every Pool child. It pulls one task message at
// a time from the task ring (claiming it, see channel.ts), runs it, writes
// the result into the result ring and pulls the next, until the pool closes
// or maxtasksperchild is reached.
//
// Waiting for work: a worker that finds the ring empty spins for a moment
// (the parent often writes the next task within microseconds, and a wake-up
// through the kernel costs 5-70 µs here), then sleeps on the ring's tail with
// an asynchronous futex wait, so its event loop keeps turning for timers the
// user's code set. While tasks keep coming it yields to the event loop every
// YIELD_MS for the same reason.
import { performance } from 'node:perf_hooks';
import { decodeLoadingTypes } from '../codec/load-types.js';
import { state } from '../process/state.js';
import { explainTaskError, loadTask, type TaskSpec } from '../process/task.js';
import { GET_MUTEX, PUT_MUTEX, TAIL } from '../channel/ring.js';
import { token } from '../shm/liveness.js';
import { lockSync, tryLock, unlock, type LockOutcome } from '../shm/mutex.js';
import { waitAsync } from '../shm/wait.js';
import { SLICE_MS, SPIN_MS, spinMs } from '../shm/wait-policy.js';
import { ClaimState, PoolChannel, type PoolChannelHandle } from './channel.js';
import { encodeResult, Mode, readTask, Status, taskPayloadOf, type TaskMessage } from './messages.js';

export interface WorkerSetup {
  channel: PoolChannelHandle;
  /** This worker's claim slot. */
  slot: number;
  /** How many slots there are. */
  slots: number;
  initializer?: TaskSpec;
  initargs?: unknown[];
  /** Exit after this many tasks (a chunk counts as one); 0 = never. */
  maxtasks: number;
}

type Fn = (...args: unknown[]) => unknown;

/** Longest stretch of back-to-back tasks before the worker lets its event loop turn. */
const YIELD_MS = 10;

const isThenable = (v: unknown): v is PromiseLike<unknown> => typeof (v as PromiseLike<unknown> | null)?.then === 'function';

/** An error's result message; one that cannot be sent whole goes as a plain Error with its name, message and stack. */
function errorResult(seq: number, status: Status, err: unknown): Uint8Array {
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

export async function poolWorker(setup: WorkerSetup): Promise<void> {
  const ch = new PoolChannel(setup.channel);
  const me = setup.slot;
  const tasks = ch.tasks;
  const myToken = token();
  ch.register(me, myToken);

  const send = (message: Uint8Array): void => {
    const h = ch.results.header;
    lockSync(h, PUT_MUTEX); // a dead writer's partial message is dropped by the reader (ring.ts)
    try {
      // The parent sleeps on its own word (PoolChannel.wakeParent), not on the ring's tail.
      if (!ch.results.tryWrite(message, false)) ch.results.writeSync(message); // one frame, or chunks as room appears
    } finally {
      unlock(h, PUT_MUTEX);
    }
    ch.wakeParent();
  };

  // Last words: an error that kills this worker while it runs a task reaches
  // the parent with that task, so its BrokenPoolError can say what happened.
  let running: TaskMessage | null = null;
  let spec: TaskSpec | undefined;
  const lastWords = (err: unknown): void => {
    if (running) send(errorResult(running.seq, Status.Dying, spec ? explainTaskError(err, spec) : err));
    running = null;
  };
  process.prependListener('uncaughtException', lastWords);
  process.prependListener('unhandledRejection', lastWords);

  if (setup.initializer) {
    try {
      const init = await loadTask(setup.initializer, state.entry);
      await init(...(setup.initargs ?? []));
    } catch (err) {
      send(errorResult(0, Status.InitFailed, explainTaskError(err, setup.initializer)));
      return;
    }
  }

  /**
   * Takes the next task if one is waiting and no other worker is reading;
   * else null. A task waiting whole in one frame is read in place (no copy).
   * Only a failed attempt every SLICE_MS checks whether the reader holding
   * the mutex died (a system call for a process).
   */
  let recoverCheckAt = 0;
  const take = (): TaskMessage | null => {
    if (!tasks.hasData()) return null;
    const h = tasks.header;
    let outcome: LockOutcome = Atomics.compareExchange(h, GET_MUTEX, 0, myToken) === 0 ? 'acquired' : 'timeout';
    if (outcome === 'timeout' && performance.now() >= recoverCheckAt) {
      recoverCheckAt = performance.now() + SLICE_MS;
      outcome = tryLock(h, GET_MUTEX);
    }
    if (outcome === 'timeout') return null;
    try {
      if (outcome === 'recovered') ch.repairDeadReader(setup.slots);
      tasks.dropOrphanFrames();
      if (!tasks.hasData()) return null;
      const seq = ch.beginClaim(me);
      let task: TaskMessage | null;
      const view = tasks.peekFull();
      if (view) {
        try {
          task = readTask(view, knows);
        } finally {
          tasks.skipFrame();
        }
      } else {
        const bytes = tasks.readSync(-Infinity); // a whole message: one starts at the head
        task = bytes && readTask(bytes, knows);
      }
      if (task) ch.endClaim(me, seq);
      else ch.setState(me, ClaimState.Idle);
      return task;
    } finally {
      unlock(h, GET_MUTEX);
    }
  };

  /** Waits until a task may be waiting (or the pool closes): spin, then sleep. */
  const idle = async (): Promise<void> => {
    const h = tasks.header;
    const tail = Atomics.load(h, TAIL);
    const until = performance.now() + spinMs(SPIN_MS.idleWorker);
    do {
      for (let i = 0; i < 64; i++) if (Atomics.load(h, TAIL) !== tail || tasks.hasData()) return;
    } while (performance.now() < until);
    if (!tasks.hasData() && !ch.closing) await waitAsync(h, TAIL, tail, SLICE_MS); // (re-checks the closing flag after a slice)
  };

  const fns = new Map<number, { fn: Fn; spec: TaskSpec }>();
  const knows = (fnId: number): boolean => fns.has(fnId);
  /** Runs a task; returns its outcome (encoded by the caller, right before it is written). */
  const run = async (task: TaskMessage): Promise<[Status.Ok | Status.Error, unknown]> => {
    spec = undefined;
    try {
      let known = fns.get(task.fnId);
      if (!known) {
        const taskSpec = task.spec!; // read with the message: the function was not known then
        known = { fn: (await loadTask(taskSpec, state.entry)) as Fn, spec: taskSpec };
        fns.set(task.fnId, known);
      }
      const fn = known.fn;
      spec = known.spec;
      let payload = decodeLoadingTypes(() => taskPayloadOf(task));
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
      return [Status.Error, spec ? explainTaskError(err, spec) : err];
    }
  };

  /**
   * A task's result message. Encoded synchronously right before send(): it
   * may be a view of the encoder's scratch buffer (encodeResult).
   */
  const resultOf = (seq: number, status: Status.Ok | Status.Error, value: unknown): Uint8Array => {
    if (status === Status.Error) return errorResult(seq, status, value);
    try {
      return encodeResult(seq, Status.Ok, value, 'result');
    } catch (err) {
      return errorResult(seq, Status.Error, err); // unsendable: a TypeError naming the culprit
    }
  };

  let done = 0;
  let yieldAt = performance.now() + YIELD_MS;
  while (setup.maxtasks === 0 || done < setup.maxtasks) {
    const task = take();
    if (!task) {
      if (ch.closing && !tasks.hasData()) break;
      await idle();
      yieldAt = performance.now() + YIELD_MS;
      continue;
    }
    if (ch.isCancelled(task.jobId)) {
      // Dropped: the parent settled it already; it still hears back, so it stops tracking it.
      send(encodeResult(task.seq, Status.Skipped, undefined, 'nothing'));
    } else {
      running = task;
      const [status, value] = await run(task);
      running = null;
      send(resultOf(task.seq, status, value));
      done++;
    }
    ch.setState(me, ClaimState.Idle); // after the result is out (channel.ts: the parent drains before failing a claim)
    if (performance.now() >= yieldAt) {
      await new Promise((resolve) => setImmediate(resolve));
      yieldAt = performance.now() + YIELD_MS;
    }
  }
  process.removeListener('uncaughtException', lastWords);
  process.removeListener('unhandledRejection', lastWords);
}
