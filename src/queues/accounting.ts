// Item counts of a Queue that stay right when a producer or a consumer dies
// at any instruction. Two counts live in the ring's header: qsize (word A:
// items accepted and not yet got) and, for a JoinableQueue, unfinished tasks
// (word B). Every step that moves an item (into the ring, out of it) and the
// count that goes with it are made recoverable:
//
// - One atomic word for a step and its count. Word A holds the count in its
//   low bits and two flags: WRITING (a writer is putting one message in the
//   ring) and READING (a reader is taking one out). The writer of an
//   unbounded queue counts its item and clears WRITING in one
//   compareExchange, and a reader uncounts its item and clears READING in
//   one, so nobody ever has to guess whether a dead party counted.
// - A record of what the step would leave behind: before it writes, a
//   writer stores the tail its message will end at (WRITE_END); before it
//   reads, a reader stores the head it starts at (READ_START). Whoever takes
//   a mutex over from a dead holder finds the flag still set and compares:
//   tail at WRITE_END means the message was delivered (count it), anything
//   else that it is lost (uncount it: the reader drops its partial frames);
//   head moved from READ_START means the dead reader took the item (or part
//   of it, whose rest the next reader skips) and it is gone.
// - Producer slots for items still in a producer's local buffer (put() never
//   waits for room): [token, buffered, written]. Only the producer's thread
//   changes its slot while it lives, so buffered − written is exact; the
//   feeder records which slot the message it writes came from (WRITE_SLOT)
//   and what that slot's `written` becomes once it has left the buffer
//   (WRITE_WRITTEN), and the writer or a recoverer stores that value (an
//   assignment, so doing it twice is harmless). Once the producer is dead,
//   whoever holds the put mutex reaps its slot: its buffered items will
//   never come, so they stop counting (qsize of a bounded queue, join()).
//
// Who may do what: writers and reapers hold the put mutex, readers the get
// mutex; accept (a bounded queue's count at put()) and taskDone() are single
// atomic operations anyone may do. All accesses are Atomics (sequentially
// consistent): a recoverer that sees a flag sees the record stored before it.
import { isDead, token } from '../shm/liveness.js';
import { wake } from '../shm/wait.js';
import { type Ring, WORD_A } from './ring.js';

const WRITING = 1 << 29;
const READING = 1 << 30;
const COUNT = WRITING - 1;
const WRITE_END = 113;
const WRITE_SLOT = 114;
const WRITE_WRITTEN = 115;
const READ_START = 116;
const SLOTS_AT = 192;
const SLOT_WORDS = 4; // [token, buffered, written, unused]
export const PRODUCER_SLOTS = 16;
const NO_SLOT = -1;

export class ItemCounts {
  readonly #h: Int32Array;
  readonly #bounded: boolean;
  /** This thread's producer slot (word index), or NO_SLOT. */
  #slot = NO_SLOT;

  constructor(
    readonly ring: Ring,
    bounded: boolean,
    /** A JoinableQueue's hook: an item that will never be got is done (nobody will process it). */
    private readonly itemLost: () => void,
  ) {
    this.#h = ring.header;
    this.#bounded = bounded;
  }

  /** Items accepted and not yet got. */
  get size(): number {
    return Atomics.load(this.#h, WORD_A) & COUNT;
  }

  /** The word waiters for room sleep on, and its value now. */
  get word(): number {
    return Atomics.load(this.#h, WORD_A);
  }

  /** A bounded queue takes a place at put(): false when full. */
  tryAccept(maxsize: number): boolean {
    for (;;) {
      const v = Atomics.load(this.#h, WORD_A);
      if ((v & COUNT) >= maxsize) return false;
      if (Atomics.compareExchange(this.#h, WORD_A, v, v + 1) === v) return true;
    }
  }

  // ---- writer (holds the put mutex) -------------------------------------------

  /** Before writing one message: where it will end, and (for a buffered item) its producer slot. */
  beginWrite(bytes: Uint8Array, fromBuffer: boolean): void {
    Atomics.store(this.#h, WRITE_END, this.ring.endAfter(bytes));
    const slot = fromBuffer ? this.#slot : NO_SLOT;
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

  /** The item recorded in WRITE_SLOT left its producer's buffer (delivered or lost). */
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
      this.itemLost();
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
    this.itemLost(); // died inside get(): nobody will process it (the next reader skips what is left of it)
  }

  /** Clears `flag` and adds `delta` to the count, in one step. */
  #settle(flag: number, delta: number): void {
    for (;;) {
      const v = Atomics.load(this.#h, WORD_A);
      if (Atomics.compareExchange(this.#h, WORD_A, v, (v & ~flag) + delta) === v) return;
    }
  }

  // ---- producer slots -----------------------------------------------------------

  /** An item goes to this thread's local buffer: false when no slot is free (the caller then waits for room). */
  buffered(): boolean {
    if (this.#slot === NO_SLOT) {
      const me = token();
      for (let i = 0; i < PRODUCER_SLOTS && this.#slot === NO_SLOT; i++) {
        const at = SLOTS_AT + i * SLOT_WORDS;
        if (Atomics.compareExchange(this.#h, at, 0, me) === 0) this.#slot = at;
      }
      if (this.#slot === NO_SLOT) return false;
    }
    Atomics.add(this.#h, this.#slot + 1, 1);
    return true;
  }

  /** The local buffer is empty: give the slot back. */
  releaseSlot(): void {
    if (this.#slot === NO_SLOT) return;
    Atomics.store(this.#h, this.#slot + 1, 0);
    Atomics.store(this.#h, this.#slot + 2, 0);
    Atomics.store(this.#h, this.#slot, 0);
    this.#slot = NO_SLOT;
  }

  /**
   * Holding the put mutex: items in the buffers of producers that died will
   * never come; they stop counting. (A reaper killed between its steps can
   * only leave a count too high, never take one twice: the slot is emptied
   * before the counts are lowered.)
   */
  reapDeadProducers(): void {
    for (let i = 0; i < PRODUCER_SLOTS; i++) {
      const at = SLOTS_AT + i * SLOT_WORDS;
      const t = Atomics.load(this.#h, at);
      if (t === 0 || !isDead(t)) continue;
      const lost = Atomics.load(this.#h, at + 1) - Atomics.load(this.#h, at + 2);
      Atomics.store(this.#h, at + 2, Atomics.load(this.#h, at + 1));
      Atomics.store(this.#h, at, 0);
      for (let n = 0; n < lost; n++) {
        if (this.#bounded) this.#settle(0, -1);
        this.itemLost();
      }
      if (lost > 0 && this.#bounded) wake(this.#h, WORD_A);
    }
  }

  /** Whether a step was left unfinished (a dead party's flag). */
  unsettled(): boolean {
    return (Atomics.load(this.#h, WORD_A) & (WRITING | READING)) !== 0;
  }
}
