// The parent's side of a pool: it starts and replaces the workers, writes
// task messages into the task ring, drains the result ring, and settles each
// task exactly once — with its result, its error, or a BrokenPoolError when
// the worker that held it died (see channel.ts for how the holder is known).
// Pool and PoolExecutor are thin layers of jobs on top of it.
//
// Waiting for results: while few tasks are in flight (a caller awaiting one
// result at a time), the event loop keeps turning for SPIN_MS.results after the last
// task went out or result came in, polling the ring, because a wake-up through
// the kernel costs as much as the whole round trip here. With more in flight
// results come in batches, so it sleeps on the ring's tail and drains every
// waiting result per wake-up.
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import type { ResourceLimits } from 'node:worker_threads';
import type { StartMethod } from '../context.js';
import { decodesToCopies } from '../codec/codec.js';
import { BrokenPoolError } from '../errors.js';
import { Process } from '../process/process.js';
import { task as moduleTask, type TaskSpec } from '../process/task.js';
import { GET_MUTEX, PUT_MUTEX, TAIL } from '../channel/ring.js';
import { TaskWriter } from './task-writer.js';
import { token } from '../shm/liveness.js';
import { lockAsync, unlock, type LockOutcome } from '../shm/mutex.js';
import { wake } from '../shm/wait.js';
import { SLICE_MS, SPIN_MS, spinMs } from '../shm/wait-policy.js';
import { ClaimState, PoolChannel } from './channel.js';
import { FnRegistry, JobIds, type PoolBackend, resultError, type Settle, settleFromResult } from './backend.js';
import { frameTask, type Mode, RESULT_HEADER, resultSeq, resultStatus, Status, type ShippedFn } from './messages.js';
import type { WorkerSetup } from './worker.js';

const workerTask = moduleTask(new URL('./worker.js', import.meta.url), 'poolWorker');
/** Bytes of each ring: a map chunk of ~100k numbers fits in one frame; larger messages pass in chunks. */
const RING_BYTES = 1 << 22;

export interface DispatcherOptions {
  processes: number;
  method: StartMethod;
  initializer?: TaskSpec;
  initargs: unknown[];
  /** 0 = workers live for ever. */
  maxtasks: number;
  resourceLimits?: ResourceLimits;
  /** As concurrent.futures: any worker that dies unasked breaks the whole pool. */
  breakOnDeath: boolean;
}

interface Pending {
  readonly jobId: number;
  readonly settle: Settle;
  /** The job decodes a successful result itself: it gets the encoded bytes. */
  readonly raw: boolean;
}

interface Worker {
  readonly process: Process;
  readonly slot: number;
  /** We killed it (cancelled task, terminate): its death is no surprise. */
  killedByUs: boolean;
  /** Resolves once its exit has been handled (claims settled, replacement started). */
  handled: Promise<void>;
}

let workerCounter = 0;

export class Dispatcher implements PoolBackend {
  readonly processes: number;
  readonly #opts: DispatcherOptions;
  readonly #ch: PoolChannel;
  readonly #workers: (Worker | null)[];
  readonly #inflight = new Map<number, Pending>();
  readonly #writer: TaskWriter;
  #receiving = false;
  #nextSeq = 0;
  readonly #jobIds = new JobIds();
  readonly #fns = new FnRegistry();
  #lastActivity = 0;
  #closed = false;
  #terminated = false;
  #broken: Error | null = null;
  /** Called once when the pool breaks (initializer failed, or a death with breakOnDeath). */
  onBroken: (err: Error) => void = () => {};

  constructor(options: DispatcherOptions) {
    this.#opts = options;
    this.processes = options.processes;
    this.#ch = PoolChannel.create(options.processes, RING_BYTES);
    this.#writer = new TaskWriter(this.#ch.tasks);
    this.#writer.onDrained = () => this.#checkClosing();
    this.#workers = new Array(options.processes).fill(null);
    try {
      for (let i = 0; i < options.processes; i++) this.#spawn(i);
    } catch (err) {
      this.terminate(err as Error); // e.g. the 'process' context without the addon: no half-started pool
      throw err;
    }
  }

  get broken(): Error | null {
    return this.#broken;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** The live workers' Process objects (Python's pool._pool). */
  get workers(): Process[] {
    return this.#workers.filter((w): w is Worker => w !== null).map((w) => w.process);
  }

  // ---- workers ---------------------------------------------------------------

  #spawn(slot: number): void {
    const setup: WorkerSetup = {
      channel: this.#ch.handle,
      slot,
      slots: this.processes,
      initializer: this.#opts.initializer,
      initargs: this.#opts.initargs,
      maxtasks: this.#opts.maxtasks,
    };
    const process = new Process({
      target: workerTask,
      args: [setup],
      name: `PoolWorker-${++workerCounter}`,
      daemon: true, // an idle pool does not keep the program alive (Python's workers are daemons)
      context: this.#opts.method,
      resourceLimits: this.#opts.resourceLimits,
    });
    process.start();
    const worker: Worker = { process, slot, killedByUs: false, handled: Promise.resolve() };
    worker.handled = process._exited.then((code) => this.#onExit(worker, code));
    this.#workers[slot] = worker;
  }

  #describeExit(worker: Worker, code: number): string {
    const p = worker.process;
    const who = `pool worker ${p.name} (${this.#opts.method === 'process' ? `pid ${p.pid}` : `thread ${p.ident}`})`;
    const signal = Object.entries(os.constants.signals).find(([, n]) => n === -code)?.[0];
    const how =
      code < 0
        ? `killed by ${signal ?? `signal ${-code}`}`
        : code === 0
          ? 'it exited with code 0 (process.exit(0), or a task whose promise never settles and leaves nothing to wait for)'
          : `it exited with code ${code}`;
    return `${who} died while running this task: ${how}`;
  }

  /**
   * A worker ended: settle what it held, then replace it if work remains.
   * Its results are drained first, so a task it finished is settled with its
   * result; only a task it still held fails.
   */
  async #onExit(worker: Worker, code: number): Promise<void> {
    const i = worker.slot;
    if (this.#workers[i] !== worker) return;
    const held = await this.#settleClaimOf(worker, code);
    this.#workers[i] = null;
    if (this.#terminated || this.#broken) return;
    const unasked = !worker.killedByUs && (code !== 0 || held);
    if (unasked && this.#opts.breakOnDeath) {
      this.#break(new BrokenPoolError(`A process in the pool was terminated abruptly: ${this.#describeExit(worker, code)}`));
      return;
    }
    if (!this.#closed || this.#inflight.size > 0) {
      try {
        this.#spawn(i);
      } catch (err) {
        this.#break(new BrokenPoolError(`could not start a pool worker: ${(err as Error).message}`, { cause: err }));
      }
    }
  }

  /** Returns whether the dead worker held a task (which is failed now). */
  async #settleClaimOf(worker: Worker, code: number): Promise<boolean> {
    const ch = this.#ch;
    const i = worker.slot;
    const dead = ch.tokenOf(i);
    const tasks = ch.tasks.header;
    // Mutexes the dead worker still holds are taken from it at once: it is
    // known dead here, before its liveness may show (a thread without the addon).
    let outcome: LockOutcome;
    if (dead !== 0 && Atomics.compareExchange(tasks, GET_MUTEX, dead, token()) === dead) outcome = 'recovered';
    else outcome = await lockAsync(tasks, GET_MUTEX);
    try {
      if (outcome === 'recovered') ch.repairDeadReader(this.processes);
      ch.repairClaimOf(i);
      if (dead !== 0 && Atomics.compareExchange(ch.results.header, PUT_MUTEX, dead, 0) === dead) wake(ch.results.header, PUT_MUTEX, 1);
      this.#drain();
      const held = ch.state(i) === ClaimState.Running;
      if (held) this.#fail(ch.claimedSeq(i), new BrokenPoolError(this.#describeExit(worker, code)));
      ch.setState(i, ClaimState.Idle);
      return held;
    } finally {
      unlock(tasks, GET_MUTEX);
    }
  }

  #fail(seq: number, err: Error): void {
    const pending = this.#inflight.get(seq);
    if (!pending) return;
    this.#inflight.delete(seq);
    pending.settle(false, err);
    this.#checkClosing();
  }

  /** The pool cannot go on: every task fails with `err`, now and later. */
  #break(err: Error): void {
    if (this.#broken || this.#terminated) return;
    this.#broken = err;
    this.#stop(err);
    this.onBroken(err);
  }

  /** Fails every task with `err` and stops every worker. */
  #stop(err: Error): void {
    const pending = [...this.#inflight.values()];
    this.#inflight.clear();
    this.#writer.stop();
    this.#ch.closing = true;
    for (const w of this.#workers) {
      if (!w) continue;
      w.killedByUs = true;
      w.process.terminate();
    }
    wake(this.#ch.tasks.header, TAIL);
    for (const p of pending) p.settle(false, err);
  }

  // ---- submitting ------------------------------------------------------------

  newJob(): number {
    return this.#jobIds.next();
  }

  ship(fn: unknown): ShippedFn {
    return this.#fns.ship(fn);
  }

  /** Throws when no task can be submitted now. */
  checkOpen(): void {
    if (this.#broken) throw this.#broken;
    if (this.#closed) throw new RangeError('Pool not running: it was closed or terminated');
  }

  /**
   * Queues one task: `message` is its payload encoded after taskReserve(fn)
   * bytes, possibly in the encoder's scratch buffer (it is written or copied
   * before this returns). `settle` is called exactly once; with `raw`, a
   * successful result reaches it as the whole result message (the job
   * decodes it in place). Returns its seq.
   */
  submit(jobId: number, fn: ShippedFn, mode: Mode, message: Uint8Array, settle: Settle, raw = false): number {
    this.checkOpen();
    const seq = this.#nextSeq;
    this.#nextSeq = (this.#nextSeq + 1) >>> 0;
    this.#inflight.set(seq, { jobId, settle, raw });
    this.#writer.write(frameTask(message, seq, jobId, fn, mode));
    this.#lastActivity = performance.now();
    this.#receive();
    return seq;
  }

  /**
   * Cancels a job: its queued tasks are skipped by the workers, and a worker
   * running one of `seqs` is killed (and replaced). The job settles itself.
   */
  cancel(jobId: number, seqs: ReadonlySet<number>): void {
    const ch = this.#ch;
    ch.cancelJob(jobId);
    // After the cancel mark: a worker that claims a task sets Running and then reads the mark (channel.ts).
    for (const w of this.#workers) {
      if (w && ch.state(w.slot) === ClaimState.Running && seqs.has(ch.claimedSeq(w.slot))) {
        w.killedByUs = true;
        w.process.kill();
      }
    }
  }

  /** Fails every task no worker has taken with `reason` (an executor's shutdown with cancelFutures). */
  cancelQueued(reason: Error): void {
    const ch = this.#ch;
    const taken = new Set(this.#workers.filter((w) => w !== null && ch.state(w.slot) !== ClaimState.Idle).map((w) => ch.claimedSeq(w!.slot)));
    for (const [seq, pending] of this.#inflight) {
      if (taken.has(seq)) continue;
      ch.cancelJob(pending.jobId); // the worker that reads it skips it
      this.#inflight.delete(seq);
      pending.settle(false, reason);
    }
    this.#checkClosing();
  }

  /** Whether a worker has taken task `seq`. */
  isRunning(seq: number): boolean {
    const ch = this.#ch;
    return this.#workers.some((w) => w !== null && ch.state(w.slot) !== ClaimState.Idle && ch.claimedSeq(w.slot) === seq);
  }

  // ---- results -----------------------------------------------------------------

  /** Starts the receive loop if it is not running (on a later microtask: never inside submit()). */
  #receive(): void {
    if (this.#receiving) return;
    this.#receiving = true;
    void Promise.resolve().then(() => this.#receiveLoop()).finally(() => {
      this.#receiving = false;
      if (this.#inflight.size > 0 && !this.#terminated) this.#receive();
    });
  }

  async #receiveLoop(): Promise<void> {
    const ch = this.#ch;
    while (this.#inflight.size > 0 && !this.#terminated) {
      if (this.#drain() > 0) {
        this.#lastActivity = performance.now();
        await null; // let the settled tasks' continuations run (they may submit more)
        continue;
      }
      if (this.#inflight.size <= this.processes && performance.now() - this.#lastActivity < spinMs(SPIN_MS.results)) {
        await new Promise((resolve) => setImmediate(resolve));
        continue;
      }
      const value = ch.beforeParentSleeps();
      if (!ch.results.hasData()) await ch.parentSleep(value, SLICE_MS); // (see PoolChannel.wakeParent)
      ch.parentAwake();
    }
  }

  /**
   * Settles every result waiting in the ring; returns how many. A result of
   * plain data is decoded where it lies in the ring (a map's chunk straight
   * into the output array) and only then freed: no copy of the message.
   */
  #drain(): number {
    const results = this.#ch.results;
    let n = 0;
    while (results.hasData()) {
      const view = results.peekFull();
      if (view && decodesToCopies(view, RESULT_HEADER)) {
        try {
          this.#onResult(view);
        } finally {
          results.skipFrame();
        }
      } else {
        const bytes = results.tryReadFull() ?? results.readSync(-Infinity); // the parent is the only reader
        if (!bytes) break;
        this.#onResult(bytes);
      }
      n++;
    }
    return n;
  }

  #onResult(bytes: Uint8Array): void {
    const status = resultStatus(bytes);
    if (status === Status.InitFailed) {
      const err = resultError(bytes);
      // A Pool fails its tasks with the initializer's own error; an executor is broken, as concurrent.futures'.
      this.#break(this.#opts.breakOnDeath ? new BrokenPoolError(`the pool's initializer failed: ${err.name}: ${err.message}`, { cause: err }) : err);
      return;
    }
    const seq = resultSeq(bytes);
    const pending = this.#inflight.get(seq);
    if (!pending) return;
    this.#inflight.delete(seq);
    settleFromResult(status, bytes, pending.settle, pending.raw);
    this.#checkClosing();
  }

  // ---- closing -------------------------------------------------------------------

  /** Once closed and everything is done, idle workers are told to exit. */
  #checkClosing(): void {
    if (!this.#closed || this.#terminated || this.#inflight.size > 0 || this.#writer.pending || this.#ch.closing) return;
    this.#ch.closing = true;
    wake(this.#ch.tasks.header, TAIL);
    // A worker still booting has nothing to finish: stop it rather than wait for it to boot and see the flag.
    for (const w of this.#workers) {
      if (w && this.#ch.tokenOf(w.slot) === 0) {
        w.killedByUs = true;
        w.process.terminate();
      }
    }
  }

  /** No more tasks; the workers exit once every submitted task is done. */
  close(): void {
    this.#closed = true;
    this.#checkClosing();
  }

  /** Stops the workers now; every pending task fails with `reason`. */
  terminate(reason: Error): void {
    if (this.#terminated) return;
    this.#closed = true;
    this.#terminated = true;
    this.#stop(reason);
  }

  /** Resolves once every worker has exited (after close() or terminate()). */
  async join(): Promise<void> {
    for (;;) {
      const live = this.#workers.filter((w): w is Worker => w !== null);
      if (live.length === 0) return;
      await Promise.all(live.map((w) => Promise.all([w.process.join(), w.handled])));
    }
  }
}
