// The shared memory a Pool and its workers work through: a task ring the
// parent writes and idle workers pull from, a result ring the workers write
// and the parent drains, and a control block (flags, the cancel table and one
// claim slot per worker). Nothing goes through postMessage.
//
// Why this is fast: a worker that finishes a task takes the next one straight
// from shared memory (no round trip to the parent, no round-robin: a slow task
// never holds back work another worker could take); the parent writes many
// tasks per turn of its event loop and drains every result that is waiting
// per wake-up; a sleeping side is woken only when it really sleeps (wait.ts).
//
// Claims: which task each worker holds, so that a worker's death fails
// exactly its task. The parent numbers the messages it writes into the task
// ring 0, 1, 2, ... (seq, wrapping u32); TAKEN counts the messages readers
// took. A worker holding the ring's get mutex claims the next message:
//   1. slot.seq = TAKEN; slot.head = ring head; slot.state = READING
//   2. reads the message (the ring's head moves past it)
//   3. TAKEN = seq + 1; slot.state = RUNNING; unlock
// and sets slot.state = IDLE once its result is in the result ring. All of
// these are Atomics (sequentially consistent), so whoever next holds the get
// mutex sees them in this order. A reader that dies holding the mutex is
// repaired by whoever recovers the mutex (repairDeadReader): if the ring's
// head is still slot.head, it consumed nothing and the message stays first in
// line (its claim is dropped); otherwise the message is lost with it, TAKEN
// moves past it and the claim stands, so the parent fails that task. A dead
// worker's RUNNING claim is failed by the parent after it has drained the
// results the worker published.
//
// Cancelling (signal, timeout, a failed map): the parent writes the job id in
// the cancel table, then looks for a worker whose claim is the task; a worker
// that claims a task sets RUNNING and then reads the table. Both sides are
// sequentially consistent, so either the worker sees the cancel (it skips the
// task) or the parent sees the claim (it replaces the worker), or both.
import { Segment } from '../shm/segment.js';
import { isDead } from '../shm/liveness.js';
import { waitAsync, wake } from '../shm/wait.js';
import { HEAD, Ring } from '../channel/ring.js';

/** Control block layout (int32 words). */
const CLOSING = 0; // 1: no task will be written any more; idle workers exit
const PARENT_ASLEEP = 4; // 1 while the parent sleeps for results (see wakeParent)
const PARENT_WAKE = 8; // bumped to wake the parent; [9] counts its sleepers (shm/wait.ts)
const TAKEN = 16; // messages taken from the task ring (wrapping u32)
const CANCEL = 32; // CANCEL_SLOTS job ids; a job is cancelled when cancel[id % CANCEL_SLOTS] === id
const CANCEL_SLOTS = 1024;
const SLOTS = CANCEL + CANCEL_SLOTS;
/** A slot per worker, 16 words (64 bytes) apart so workers do not share a cache line. */
const SLOT_WORDS = 16;
const STATE = 0;
const SEQ = 1;
const CLAIM_HEAD = 2;
const TOKEN = 3;

export const enum ClaimState {
  Idle = 0,
  Reading = 1,
  Running = 2,
}

export interface PoolChannelHandle {
  tasks: Segment;
  results: Segment;
  control: Segment;
}

export class PoolChannel {
  readonly tasks: Ring;
  readonly results: Ring;
  readonly control: Int32Array;
  /** What a worker receives to attach (segments travel as handles). */
  readonly handle: PoolChannelHandle;

  constructor(handle: PoolChannelHandle) {
    this.handle = handle;
    this.tasks = new Ring(handle.tasks);
    this.results = new Ring(handle.results);
    this.control = new Int32Array(handle.control.sab);
  }

  static create(workers: number, ringBytes: number): PoolChannel {
    return new PoolChannel({
      tasks: Ring.create(ringBytes).segment,
      results: Ring.create(ringBytes).segment,
      control: Segment.create((SLOTS + workers * SLOT_WORDS) * 4),
    });
  }

  // ---- flags -----------------------------------------------------------------

  get closing(): boolean {
    return Atomics.load(this.control, CLOSING) === 1;
  }

  set closing(value: boolean) {
    Atomics.store(this.control, CLOSING, value ? 1 : 0);
  }

  // ---- the parent's sleep ---------------------------------------------------------
  // The parent sleeps on PARENT_WAKE, not on the result ring's tail, so that
  // of all the results written while it sleeps only the first pays for a
  // wake-up (a system call of ~5 µs here) instead of each one until it runs.
  // No lost wake-up: the parent sets PARENT_ASLEEP and then looks at the
  // ring; a worker publishes its result and then reads PARENT_ASLEEP (all
  // sequentially consistent), so one of them sees the other. The parent
  // reads PARENT_WAKE before both, so a bump in between ends its wait at once.

  /** Parent, before sleeping: returns the value to sleep on. The caller then checks the ring once more. */
  beforeParentSleeps(): number {
    const value = Atomics.load(this.control, PARENT_WAKE);
    Atomics.store(this.control, PARENT_ASLEEP, 1);
    return value;
  }

  parentAwake(): void {
    Atomics.store(this.control, PARENT_ASLEEP, 0);
  }

  /** The parent's sleep: waits until woken, or `ms` passes. */
  parentSleep(value: number, ms: number): Promise<boolean> {
    return waitAsync(this.control, PARENT_WAKE, value, ms);
  }

  /** Worker, after writing a result: wakes the parent if it sleeps (only the first writer does). */
  wakeParent(): void {
    if (Atomics.load(this.control, PARENT_ASLEEP) === 0 || Atomics.exchange(this.control, PARENT_ASLEEP, 0) === 0) return;
    Atomics.add(this.control, PARENT_WAKE, 1);
    wake(this.control, PARENT_WAKE);
  }

  cancelJob(jobId: number): void {
    Atomics.store(this.control, CANCEL + (jobId % CANCEL_SLOTS), jobId);
  }

  isCancelled(jobId: number): boolean {
    return Atomics.load(this.control, CANCEL + (jobId % CANCEL_SLOTS)) === jobId;
  }

  // ---- claims ------------------------------------------------------------------

  #slot(i: number): number {
    return SLOTS + i * SLOT_WORDS;
  }

  state(i: number): ClaimState {
    return Atomics.load(this.control, this.#slot(i) + STATE);
  }

  claimedSeq(i: number): number {
    return Atomics.load(this.control, this.#slot(i) + SEQ) >>> 0;
  }

  setState(i: number, state: ClaimState): void {
    Atomics.store(this.control, this.#slot(i) + STATE, state);
  }

  /** A worker says who it is, so its claims can be judged by its liveness. */
  register(i: number, token: number): void {
    const s = this.#slot(i);
    Atomics.store(this.control, s + STATE, ClaimState.Idle);
    Atomics.store(this.control, s + TOKEN, token);
  }

  tokenOf(i: number): number {
    return Atomics.load(this.control, this.#slot(i) + TOKEN);
  }

  /**
   * Step 1 of a claim (the caller holds the task ring's get mutex and the
   * next frame starts a message): returns the message's seq.
   */
  beginClaim(i: number): number {
    const s = this.#slot(i);
    const seq = Atomics.load(this.control, TAKEN);
    Atomics.store(this.control, s + SEQ, seq);
    Atomics.store(this.control, s + CLAIM_HEAD, Atomics.load(this.tasks.header, HEAD));
    Atomics.store(this.control, s + STATE, ClaimState.Reading);
    return seq >>> 0;
  }

  /** Step 3: the message is read. */
  endClaim(i: number, seq: number): void {
    Atomics.store(this.control, TAKEN, (seq + 1) | 0);
    Atomics.store(this.control, this.#slot(i) + STATE, ClaimState.Running);
  }

  /**
   * Run by whoever recovered the task ring's get mutex from a dead holder,
   * before reading: settles the dead reader's half-made claim (see the top).
   */
  repairDeadReader(workers: number): void {
    for (let i = 0; i < workers; i++) if (isDead(this.tokenOf(i))) this.repairClaimOf(i);
  }

  /** Settles worker `i`'s half-made claim; `i` is dead and the caller holds the task ring's get mutex. */
  repairClaimOf(i: number): void {
    const s = this.#slot(i);
    if (Atomics.load(this.control, s + STATE) !== ClaimState.Reading) return;
    if (Atomics.load(this.tasks.header, HEAD) === Atomics.load(this.control, s + CLAIM_HEAD)) {
      Atomics.store(this.control, s + STATE, ClaimState.Idle); // nothing consumed: the message is still first in line
    } else {
      Atomics.store(this.control, TAKEN, (Atomics.load(this.control, s + SEQ) + 1) | 0);
      Atomics.store(this.control, s + STATE, ClaimState.Running); // consumed in part: lost with its reader
    }
  }
}
