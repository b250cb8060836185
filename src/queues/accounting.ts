// Item counts of a Queue that stay right when a producer or a consumer dies
// at any instruction. qsize (word A: items accepted and not yet got) and, for
// a JoinableQueue, tasks put and tasks done (unfinished = put − done) live in
// the ring's header. Every step that moves an item (accepted, into the ring,
// out of it) and the counts that go with it are made recoverable:
//
// - One atomic word for a step and its count. Word A holds the count in its
//   low bits and three flags: ACCEPTING (a producer is counting an item at
//   put()), WRITING (a writer is putting one message in the ring) and READING
//   (a reader is taking one out). The writer of an unbounded queue counts its
//   item and clears WRITING in one compareExchange, and a reader uncounts its
//   item and clears READING in one, so nobody ever has to guess whether a
//   dead party counted.
// - A record of what the step would leave behind, stored before the step:
//   a writer stores the tail its message will end at (WRITE_END), a reader
//   the head it starts at (READ_START), an acceptor its slot's and the task
//   count's next values (ACCEPT_*). Whoever takes a mutex over from a dead
//   holder finds the flag still set and finishes or drops the step: tail at
//   WRITE_END means the message was delivered (count it), anything else that
//   it is lost (uncount it: the reader drops its partial frames); head moved
//   from READ_START means the dead reader took the item (or part of it, whose
//   rest the next reader skips) and it is gone; an accept whose count was
//   taken is completed from its record. Completing stores the recorded values
//   (assignments), so doing it twice is harmless.
// - Producer slots: [token, buffered, written]. An item counted at put() (a
//   bounded queue's place, a JoinableQueue's task) or waiting in a producer's
//   local buffer (put() never waits for room) is in its producer's slot until
//   it is written. Only the producer's thread changes its slot while it
//   lives, so buffered − written is exact; the writer records which slot the
//   message came from (WRITE_SLOT) and what that slot's `written` becomes
//   (WRITE_WRITTEN). Once the producer is dead, whoever holds the put and
//   accept mutexes reaps its slot: those items will never come, so they stop
//   counting (qsize, a bounded queue's room, join()).
//
// Who may do what: acceptors hold the accept mutex (held for a few stores,
// never while waiting), writers the put mutex, reapers both, readers the get
// mutex; taskDone() is a single atomic operation anyone may do. All accesses
// are Atomics (sequentially consistent): a recoverer that sees a flag sees
// the record stored before it.
import { isDead, token } from '../shm/liveness.js';
import { lockSync, tryLock, unlock } from '../shm/mutex.js';
import { wake } from '../shm/wait.js';
import { type Ring, SLOTS_END, SLOTS_START, WORD_A, WORD_B } from '../channel/ring.js';

const ACCEPTING = 1 << 28;
const WRITING = 1 << 29;
const READING = 1 << 30;
const COUNT = ACCEPTING - 1;
/** A JoinableQueue's tasks done (waitable: join() sleeps on it) and tasks put. */
export const TASKS_DONE = WORD_B;
const TASKS_PUT = WORD_B + 2;
const WRITE_END = 113;
const WRITE_SLOT = 114;
const WRITE_WRITTEN = 115;
const READ_START = 116;
const ACCEPT_SLOT = 117; // the accepting producer's slot while an accept is under way, else NO_SLOT
const ACCEPT_BUFFERED = 118;
const ACCEPT_TASKS = 119;
const ACCEPT_MUTEX = 120; // [121]: its sleepers
const SLOT_WORDS = 4; // [token, buffered, written, unused]
export const PRODUCER_SLOTS = (SLOTS_END - SLOTS_START) / SLOT_WORDS;
const NO_SLOT = 0; // (slots start past word 0)

export class ItemCounts {
  readonly #h: Int32Array;
  readonly #bounded: boolean;
  readonly #joinable: boolean;
  /** This thread's producer slot (word index), or NO_SLOT. */
  #slot = NO_SLOT;

  constructor(
    readonly ring: Ring,
    kind: { bounded: boolean; joinable: boolean },
  ) {
    this.#h = ring.header;
    this.#bounded = kind.bounded;
    this.#joinable = kind.joinable;
  }

  /** Whether put() counts an item when it accepts it (a bounded queue's place, a JoinableQueue's task). */
  get countsAtPut(): boolean {
    return this.#bounded || this.#joinable;
  }

  /** Items accepted and not yet got. */
  get size(): number {
    return Atomics.load(this.#h, WORD_A) & COUNT;
  }

  /** The word waiters for room sleep on, and its value now. */
  get word(): number {
    return Atomics.load(this.#h, WORD_A);
  }

  // ---- accept (put() of a bounded queue or a JoinableQueue) ---------------------

  /**
   * Counts an item at put(), in this thread's producer slot until it is
   * written: false when a bounded queue is full, or when all producer slots
   * are taken (the caller waits as for room).
   */
  accept(maxsize: number): boolean {
    if (!this.#claimSlot()) return false;
    const h = this.#h;
    if (lockSync(h, ACCEPT_MUTEX) === 'recovered') this.#recoverAccept();
    // Only acceptors raise the count, and they hold the mutex: room seen here stays.
    const accepted = !this.#bounded || (Atomics.load(h, WORD_A) & COUNT) < maxsize;
    if (accepted) {
      Atomics.store(h, ACCEPT_BUFFERED, Atomics.load(h, this.#slot + 1) + 1);
      if (this.#joinable) Atomics.store(h, ACCEPT_TASKS, Atomics.load(h, TASKS_PUT) + 1);
      Atomics.store(h, ACCEPT_SLOT, this.#slot); // the record is complete
      // The step that counts: after it, a recoverer completes the accept; before it, drops it.
      if (this.#bounded) Atomics.add(h, WORD_A, 1 + ACCEPTING); // (ACCEPTING is clear: set only under this mutex)
      else Atomics.store(h, TASKS_PUT, Atomics.load(h, ACCEPT_TASKS));
      this.#completeAccept();
    }
    unlock(h, ACCEPT_MUTEX);
    if (!accepted) this.releaseIdleSlot();
    return accepted;
  }

  /** Stores what the recorded accept leaves behind (again, if it was done: assignments only). */
  #completeAccept(): void {
    const h = this.#h;
    if (this.#joinable) Atomics.store(h, TASKS_PUT, Atomics.load(h, ACCEPT_TASKS));
    Atomics.store(h, Atomics.load(h, ACCEPT_SLOT) + 1, Atomics.load(h, ACCEPT_BUFFERED));
    if (this.#bounded) Atomics.and(h, WORD_A, ~ACCEPTING);
    Atomics.store(h, ACCEPT_SLOT, NO_SLOT);
  }

  /** Holding the accept mutex just taken over from a dead acceptor: completes its accept if it counted. */
  #recoverAccept(): void {
    const h = this.#h;
    if (Atomics.load(h, ACCEPT_SLOT) === NO_SLOT) return;
    const counted = this.#bounded
      ? (Atomics.load(h, WORD_A) & ACCEPTING) !== 0
      : Atomics.load(h, TASKS_PUT) === Atomics.load(h, ACCEPT_TASKS); // (only acceptors change TASKS_PUT)
    if (counted) this.#completeAccept();
    else Atomics.store(h, ACCEPT_SLOT, NO_SLOT);
  }

  // ---- writer (holds the put mutex) -------------------------------------------

  /** Before writing one message: where it will end, and (for an item in this thread's slot) the slot. */
  beginWrite(bytes: Uint8Array, fromSlot: boolean): void {
    Atomics.store(this.#h, WRITE_END, this.ring.endAfter(bytes));
    const slot = fromSlot ? this.#slot : NO_SLOT;
    Atomics.store(this.#h, WRITE_SLOT, slot);
    if (slot !== NO_SLOT) Atomics.store(this.#h, WRITE_WRITTEN, Atomics.load(this.#h, slot + 2) + 1);
    Atomics.or(this.#h, WORD_A, WRITING);
  }

  /** The message is in the ring: count it (unbounded) and clear WRITING at once. */
  endWrite(): void {
    this.#markWritten();
    this.#settle(WRITING, this.#bounded ? 0 : 1);
  }

  /** The message was not written after all (no room now): nothing changed. */
  cancelWrite(): void {
    Atomics.and(this.#h, WORD_A, ~WRITING);
  }

  /** The item recorded in WRITE_SLOT left its producer's slot (delivered or lost). */
  #markWritten(): void {
    const slot = Atomics.load(this.#h, WRITE_SLOT);
    if (slot !== NO_SLOT) Atomics.store(this.#h, slot + 2, Atomics.load(this.#h, WRITE_WRITTEN));
  }

  /**
   * Holding the put mutex just taken over from a dead writer: finishes its
   * step. Its message counts if it reached the ring whole, and is lost (and
   * uncounted) otherwise.
   */
  recoverWriter(): void {
    if (!(Atomics.load(this.#h, WORD_A) & WRITING)) return;
    this.#markWritten();
    if (this.ring.tail === Atomics.load(this.#h, WRITE_END)) this.#settle(WRITING, this.#bounded ? 0 : 1);
    else {
      this.#settle(WRITING, this.#bounded ? -1 : 0);
      this.#taskLost();
    }
  }

  // ---- reader (holds the get mutex) -------------------------------------------

  beginRead(): void {
    Atomics.store(this.#h, READ_START, this.ring.head);
    Atomics.or(this.#h, WORD_A, READING);
  }

  /** An item was got (uncount it, clear READING) or none came (clear READING). */
  endRead(got: boolean): void {
    this.#settle(READING, got ? -1 : 0);
    if (got) wake(this.#h, WORD_A);
  }

  /** Holding the get mutex just taken over from a dead reader: an item it began to take is gone. */
  recoverReader(): void {
    if (!(Atomics.load(this.#h, WORD_A) & READING)) return;
    const took = this.ring.head !== Atomics.load(this.#h, READ_START);
    this.#settle(READING, took ? -1 : 0);
    if (!took) return;
    wake(this.#h, WORD_A);
    this.#taskLost(); // died inside get(): nobody will process it (the next reader skips what is left of it)
  }

  /** Clears `flag` and adds `delta` to the count, in one step. */
  #settle(flag: number, delta: number): void {
    for (;;) {
      const v = Atomics.load(this.#h, WORD_A);
      if (Atomics.compareExchange(this.#h, WORD_A, v, (v & ~flag) + delta) === v) return;
    }
  }

  // ---- tasks (JoinableQueue) ------------------------------------------------------

  /** Tasks put and not yet marked done. */
  get unfinished(): number {
    return (Atomics.load(this.#h, TASKS_PUT) - Atomics.load(this.#h, TASKS_DONE)) | 0;
  }

  /** The word join() sleeps on, and its value now. */
  get tasksDone(): number {
    return Atomics.load(this.#h, TASKS_DONE);
  }

  /** One task done; false when none is unfinished. */
  taskDone(): boolean {
    const h = this.#h;
    for (;;) {
      const done = Atomics.load(h, TASKS_DONE);
      const put = Atomics.load(h, TASKS_PUT); // (read after done: it only grows, so unfinished is never overstated)
      if (((put - done) | 0) <= 0) return false;
      if (Atomics.compareExchange(h, TASKS_DONE, done, (done + 1) | 0) !== done) continue;
      if (((done + 1) | 0) === put) wake(h, TASKS_DONE);
      return true;
    }
  }

  /** An item that will never be got is done: nobody will process it. */
  #taskLost(): void {
    if (this.#joinable) this.taskDone();
  }

  // ---- producer slots -----------------------------------------------------------

  /** This thread's slot, taken if it has none: false when every slot is taken. */
  #claimSlot(): boolean {
    if (this.#slot !== NO_SLOT) return true;
    const me = token();
    for (let at = SLOTS_START; at < SLOTS_END; at += SLOT_WORDS) {
      if (Atomics.compareExchange(this.#h, at, 0, me) === 0) {
        this.#slot = at;
        return true;
      }
    }
    return false;
  }

  /**
   * An item of a queue that does not count at put() goes to this thread's
   * local buffer: false when no slot is free (the caller then waits for room).
   */
  buffered(): boolean {
    if (!this.#claimSlot()) return false;
    Atomics.add(this.#h, this.#slot + 1, 1);
    return true;
  }

  /** Gives this thread's slot back if it holds no item (all written). */
  releaseIdleSlot(): void {
    const at = this.#slot;
    if (at === NO_SLOT || Atomics.load(this.#h, at + 1) !== Atomics.load(this.#h, at + 2)) return;
    Atomics.store(this.#h, at + 1, 0);
    Atomics.store(this.#h, at + 2, 0);
    Atomics.store(this.#h, at, 0);
    this.#slot = NO_SLOT;
  }

  /**
   * Holding the put mutex: items in the slots of producers that died will
   * never come; they stop counting. Needs the accept mutex too (tried, not
   * waited for: reaping runs again later), so that no accept into a slot is
   * half done. A reaper killed between its steps can only leave a count too
   * high, never take one twice: the slot is emptied before counts are lowered.
   */
  reapDeadProducers(): void {
    const h = this.#h;
    const outcome = tryLock(h, ACCEPT_MUTEX);
    if (outcome === 'timeout') return;
    if (outcome === 'recovered') this.#recoverAccept();
    for (let at = SLOTS_START; at < SLOTS_END; at += SLOT_WORDS) {
      const t = Atomics.load(h, at);
      if (t === 0 || !isDead(t)) continue;
      const lost = Atomics.load(h, at + 1) - Atomics.load(h, at + 2);
      Atomics.store(h, at + 2, Atomics.load(h, at + 1));
      Atomics.store(h, at, 0);
      for (let n = 0; n < lost; n++) {
        if (this.#bounded) this.#settle(0, -1);
        this.#taskLost();
      }
      if (lost > 0 && this.#bounded) wake(h, WORD_A);
    }
    unlock(h, ACCEPT_MUTEX);
  }

  /** Whether a dead party may have left a count too high: a step's flag, or items in a dead producer's slot. */
  unsettled(): boolean {
    const h = this.#h;
    if ((Atomics.load(h, WORD_A) & (ACCEPTING | WRITING | READING)) !== 0) return true;
    for (let at = SLOTS_START; at < SLOTS_END; at += SLOT_WORDS) {
      const t = Atomics.load(h, at);
      if (t !== 0 && Atomics.load(h, at + 1) !== Atomics.load(h, at + 2) && isDead(t)) return true;
    }
    return false;
  }
}
