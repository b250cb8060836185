// A pool worker: the target of every Pool child. It pulls one task message at
// a time from the task ring (claiming it, see channel.ts), runs it, writes
// the result into the result ring and pulls the next, until the pool closes
// or maxtasksperchild is reached.
//
// Waiting for work: a worker that finds the ring empty spins for a moment
// (the parent often writes the next task within microseconds, and a wake-up
// through the kernel costs 5-70 µs here), then sleeps on the ring's tail. It
// blocks the thread in that sleep when its event loop has nothing to wait
// for, and otherwise (a timer or socket the user's code left) waits
// asynchronously so that the loop keeps turning. While tasks keep coming,
// and between blocking sleeps, it lets the event loop turn every YIELD_MS.
import { performance } from 'node:perf_hooks';
import { state } from '../process/state.js';
import { explainTaskError, loadTask, type TaskSpec } from '../process/task.js';
import { GET_MUTEX, PUT_MUTEX, TAIL } from '../channel/ring.js';
import { token } from '../shm/liveness.js';
import { lockSync, tryLock, unlock, type LockOutcome } from '../shm/mutex.js';
import { asyncWaitsPending, waitAsync, waitSync } from '../shm/wait.js';
import { SLICE_MS, SPIN_MS, SpinSpan, spinMs } from '../shm/wait-policy.js';
import { ClaimState, PoolChannel, type PoolChannelHandle } from './channel.js';
import { encodeResult, readTask, Status, taskPayloadOf, type TaskMessage } from './messages.js';
import { errorResult, resultOf, TaskRunner } from './task-runner.js';

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

/** Longest stretch of back-to-back tasks before the worker lets its event loop turn. */
const YIELD_MS = 10;

/**
 * Whether this thread's event loop has nothing to wait for (no timer, socket,
 * file request, port or multiproc wait the user's code left behind): then an
 * idle worker sleeps in a blocking wait, which a new task ends with one
 * wake-up, instead of an asynchronous one, which costs a hop through a waiter
 * thread and a turn of the event loop. 'CloseReq' is a handle being closed:
 * it needs no turn of the loop to finish soon.
 */
function loopHasNothingToDo(): boolean {
  if (asyncWaitsPending()) return false;
  for (const kind of process.getActiveResourcesInfo()) if (kind !== 'CloseReq') return false;
  return true;
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
  const runner = new TaskRunner();
  let running: TaskMessage | null = null;
  const lastWords = (err: unknown): void => {
    if (running) send(errorResult(running.seq, Status.Dying, runner.explain(err)));
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

  /**
   * Waits until a task may be waiting (or the pool closes): spin, then sleep.
   * Returns whether the event loop turned meanwhile.
   */
  const span = new SpinSpan();
  const idle = async (): Promise<boolean> => {
    const h = tasks.header;
    const tail = Atomics.load(h, TAIL);
    const budget = spinMs(SPIN_MS.idleWorker);
    const until = performance.now() + budget;
    if (budget > 0) span.pass();
    do {
      for (let i = 0; i < 64; i++) {
        if (Atomics.load(h, TAIL) !== tail || tasks.hasData()) {
          span.end(true);
          return false;
        }
      }
    } while (performance.now() < until);
    span.end(false);
    if (tasks.hasData() || ch.closing) return false;
    if (loopHasNothingToDo()) {
      waitSync(h, TAIL, tail, SLICE_MS); // (re-checks the closing flag after a slice)
      return false;
    }
    await waitAsync(h, TAIL, tail, SLICE_MS);
    return true;
  };

  const knows = (fnId: number): boolean => runner.knows(fnId);

  let done = 0;
  let yieldAt = performance.now() + YIELD_MS;
  while (setup.maxtasks === 0 || done < setup.maxtasks) {
    const task = take();
    if (!task) {
      if (ch.closing && !tasks.hasData()) break;
      if (await idle()) yieldAt = performance.now() + YIELD_MS;
      else if (performance.now() >= yieldAt) {
        await new Promise((resolve) => setImmediate(resolve));
        yieldAt = performance.now() + YIELD_MS;
      }
      continue;
    }
    if (ch.isCancelled(task.jobId)) {
      // Dropped: the parent settled it already; it still hears back, so it stops tracking it.
      send(encodeResult(task.seq, Status.Skipped, undefined, 'nothing'));
    } else {
      running = task;
      const [status, value] = await runner.run(task, () => taskPayloadOf(task));
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
