// Item counts of a Queue that stay right when a producer or a consumer dies
// at any instruction. qsize and, for a JoinableQueue, tasks put and tasks
// done (unfinished = put − done) live in the ring's header. Every step that
// moves an item (accepted, into the ring, out of it) and the counts that go
// with it are made recoverable.
//
// - Counters, each changed by one party only, each on its own cache line:
//   WRITTEN (messages written into the ring; put-mutex holders), GOT (items
//   got; get-mutex holders), and for a bounded queue ACCEPTED (items counted
//   at put(); accept-mutex holders) and LOST (accepted items that will never
//   come; put-mutex holders). qsize = WRITTEN − GOT (unbounded: an item
//   counts once in the ring) or ACCEPTED − LOST − GOT (bounded). Counters
//   wrap as int32; differences are taken with `| 0`. No word is changed by
//   both a writer and a reader, so a message costs no contended
//   read-modify-write (one shared count word with flags cost ~350 ns per
//   item between two CPUs, measured).
// - A record of what a step leaves behind, stored before the step with its
//   flag: a writer stores the tail its message will end at (WRITE_END) and
//   the counters' next values, a reader the head it starts at (READ_START)
//   and GOT's next value, an acceptor its slot's and the counts' next values
//   (ACCEPT_*). Whoever takes a mutex over from a dead holder finds the flag
//   set and finishes or drops the step: tail at WRITE_END means the message
//   was delivered (count it), anything else that it is lost (the reader
//   drops its partial frames); head moved from READ_START means the dead
//   reader took the item (or part of it, whose rest the next reader skips)
//   and it is gone; an accept whose count was stored is completed from its
//   record. Finishing stores the recorded values (assignments), so a
//   recoverer that dies and is recovered in turn does no harm.
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
// the record stored before it, and a reader of two counters sees each one's
// latest store.
import { isDead, token } from '../shm/liveness.js';
import { lockSync, tryLock, unlock } from '../shm/mutex.js';
import { wake } from '../shm/wait.js';
import { type Ring, SLOTS_END, SLOTS_START, WORD_B } from '../channel/ring.js';

/** A JoinableQueue's tasks done (waitable: join() sleeps on it) and tasks put. */
export const TASKS_DONE = WORD_B;
const TASKS_PUT = WORD_B + 2;
// The acceptors' line (the ring's users' crash records, words 112..127).
const ACCEPT_SLOT = 117; // the accepting producer's slot while an accept is under way, else NO_SLOT
const ACCEPT_BUFFERED = 118;
const ACCEPT_TASKS = 119;
const ACCEPT_MUTEX = 120; // [121]: its sleepers
const ACCEPTED = 122;
const ACCEPT_ACCEPTED = 123;
// The writers' line (words 448..463 of the ring's header are free for users).
const WRITTEN = 448;
const WRITING = 449; // 1 while a writer's step is under way
const WRITE_END = 450;
const WRITE_SLOT = 451;
const WRITE_WRITTEN = 452; // the slot's `written` after the step
const WRITE_COUNT = 453; // WRITTEN after the step (if delivered)
const LOST = 454;
const WRITE_LOST = 455; // LOST after the step (if lost)
// The readers' line.
/** Items ever got: bounded room waiters sleep on it (it changes with every get). */
export const GOT = 464; // [465]: its sleepers
const READING = 466; // 1 while a reader's step is under way
const READ_START = 467;
const READ_COUNT = 468; // GOT after the step (if an item was taken)
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
    const h = this.#h;
    // GOT first: it only follows the others, so the difference is never below the truth.
    const got = Atomics.load(h, GOT);
    const counted = this.#bounded ? Atomics.load(h, ACCEPTED) - Atomics.load(h, LOST) : Atomics.load(h, WRITTEN);
    return Math.max(0, (counted - got) | 0);
  }

  /** GOT now: a waiter for room reads it before it checks, and sleeps on it (index GOT). */
  get gotWord(): number {
    return Atomics.load(this.#h, GOT);
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
    const accepted = !this.#bounded || this.size < maxsize;
    if (accepted) {
      Atomics.store(h, ACCEPT_BUFFERED, Atomics.load(h, this.#slot + 1) + 1);
      if (this.#joinable) Atomics.store(h, ACCEPT_TASKS, Atomics.load(h, TASKS_PUT) + 1);
      if (this.#bounded) Atomics.store(h, ACCEPT_ACCEPTED, (Atomics.load(h, ACCEPTED) + 1) | 0);
      Atomics.store(h, ACCEPT_SLOT, this.#slot); // the record is complete
      // The step that counts: after it, a recoverer completes the accept; before it, drops it.
      if (this.#bounded) Atomics.store(h, ACCEPTED, Atomics.load(h, ACCEPT_ACCEPTED));
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
    if (this.#bounded) Atomics.store(h, ACCEPTED, Atomics.load(h, ACCEPT_ACCEPTED));
    Atomics.store(h, Atomics.load(h, ACCEPT_SLOT) + 1, Atomics.load(h, ACCEPT_BUFFERED));
    Atomics.store(h, ACCEPT_SLOT, NO_SLOT);
  }

  /** Holding the accept mutex just taken over from a dead acceptor: completes its accept if it counted. */
  #recoverAccept(): void {
    const h = this.#h;
    if (Atomics.load(h, ACCEPT_SLOT) === NO_SLOT) return;
    // (Only acceptors change ACCEPTED and TASKS_PUT: equal to the record means the count was stored.)
    const counted = this.#bounded ? Atomics.load(h, ACCEPTED) === Atomics.load(h, ACCEPT_ACCEPTED) : Atomics.load(h, TASKS_PUT) === Atomics.load(h, ACCEPT_TASKS);
    if (counted) this.#completeAccept();
    else Atomics.store(h, ACCEPT_SLOT, NO_SLOT);
  }

  // ---- writer (holds the put mutex) -------------------------------------------

  /** Before writing one message: where it will end, the counts after it, and (for an item in this thread's slot) the slot. */
  beginWrite(bytes: Uint8Array, fromSlot: boolean): void {
    const h = this.#h;
    Atomics.store(h, WRITE_END, this.ring.endAfter(bytes));
    const slot = fromSlot ? this.#slot : NO_SLOT;
    Atomics.store(h, WRITE_SLOT, slot);
    if (slot !== NO_SLOT) Atomics.store(h, WRITE_WRITTEN, Atomics.load(h, slot + 2) + 1);
    if (this.#bounded) Atomics.store(h, WRITE_LOST, (Atomics.load(h, LOST) + 1) | 0);
    else Atomics.store(h, WRITE_COUNT, (Atomics.load(h, WRITTEN) + 1) | 0);
    Atomics.store(h, WRITING, 1);
  }

  /** The message is in the ring: count it (unbounded) and end the step. */
  endWrite(): void {
    this.#markWritten();
    this.#delivered();
  }

  /** The message was not written after all (no room now): nothing changed. */
  cancelWrite(): void {
    Atomics.store(this.#h, WRITING, 0);
  }

  /** The item recorded in WRITE_SLOT left its producer's slot (delivered or lost). */
  #markWritten(): void {
    const slot = Atomics.load(this.#h, WRITE_SLOT);
    if (slot !== NO_SLOT) Atomics.store(this.#h, slot + 2, Atomics.load(this.#h, WRITE_WRITTEN));
  }

  #delivered(): void {
    if (!this.#bounded) Atomics.store(this.#h, WRITTEN, Atomics.load(this.#h, WRITE_COUNT));
    Atomics.store(this.#h, WRITING, 0);
  }

  /**
   * Holding the put mutex just taken over from a dead writer: finishes its
   * step. Its message counts if it reached the ring whole, and is lost (and
   * uncounted) otherwise.
   */
  recoverWriter(): void {
    if (!Atomics.load(this.#h, WRITING)) return;
    this.#markWritten();
    if (this.ring.tail === Atomics.load(this.#h, WRITE_END)) this.#delivered();
    else {
      if (this.#bounded) {
        Atomics.store(this.#h, LOST, Atomics.load(this.#h, WRITE_LOST));
        wake(this.#h, GOT); // room for a bounded queue's waiters
      }
      Atomics.store(this.#h, WRITING, 0);
      this.#taskLost();
    }
  }

  // ---- reader (holds the get mutex) -------------------------------------------

  beginRead(): void {
    const h = this.#h;
    Atomics.store(h, READ_START, this.ring.head);
    Atomics.store(h, READ_COUNT, (Atomics.load(h, GOT) + 1) | 0);
    Atomics.store(h, READING, 1);
  }

  /** An item was got (count it) or none came; the step ends. */
  endRead(got: boolean): void {
    const h = this.#h;
    if (got) Atomics.store(h, GOT, Atomics.load(h, READ_COUNT));
    Atomics.store(h, READING, 0);
    if (got) wake(h, GOT);
  }

  /** Holding the get mutex just taken over from a dead reader: an item it began to take is gone. */
  recoverReader(): void {
    const h = this.#h;
    if (!Atomics.load(h, READING)) return;
    const took = this.ring.head !== Atomics.load(h, READ_START);
    this.endRead(took);
    if (took) this.#taskLost(); // died inside get(): nobody will process it (the next reader skips what is left of it)
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
      if (lost > 0 && this.#bounded) {
        Atomics.store(h, LOST, (Atomics.load(h, LOST) + lost) | 0);
        wake(h, GOT); // room for a bounded queue's waiters
      }
      for (let n = 0; n < lost; n++) this.#taskLost();
    }
    unlock(h, ACCEPT_MUTEX);
  }

  /** Whether a dead party may have left a count too high: a step's flag, or items in a dead producer's slot. */
  unsettled(): boolean {
    const h = this.#h;
    if (Atomics.load(h, ACCEPT_SLOT) !== NO_SLOT || Atomics.load(h, WRITING) || Atomics.load(h, READING)) return true;
    for (let at = SLOTS_START; at < SLOTS_END; at += SLOT_WORDS) {
      const t = Atomics.load(h, at);
      if (t !== 0 && Atomics.load(h, at + 1) !== Atomics.load(h, at + 2) && isDead(t)) return true;
    }
    return false;
  }
}
