// Condition: Python's multiprocessing.Condition over a Lock or (the default)
// an RLock.
//
// Each waiter has a slot of its own in a table in shared memory, and
// notify(n) signals the n oldest waiters by writing their slots, so a signal
// always reaches a waiter that was waiting when notify() ran: one that starts
// waiting later (the notifier itself, right after notify()) can never take it.
// A count of signals, as this used to be, lets a new waiter consume a signal
// meant for an earlier one, and the earlier one sleeps on for ever.
//
// A slot's state word:  0 free · token (> 0) waiting · -token signalled,
// where token is the waiter's liveness token (shm/liveness.ts), so a dead
// waiter is seen: notify() skips it and frees its slot, and a signal left to
// a waiter that died before taking it is taken by a live waiter instead (they
// check every SLICE_MS while they sleep). Each slot also holds the waiter's
// ticket (arrival order: notify picks the lowest tickets, first in first out)
// and the sleepers count that wait.ts keeps next to the word slept on.
//
// Who changes what: enter (free → waiting) and notify (waiting → signalled)
// run under the condition's lock; the waiter itself moves its slot back to
// free — after taking the signal, or by compareExchange(waiting → free) on a
// timeout or an abort; when that compareExchange fails, notify() came first
// and the waiter took the signal (a timeout returns true) or, when aborted,
// hands it to the next waiter once it holds the lock again. All accesses are
// Atomics (sequentially consistent); a waiter sleeps on its own state word
// with the value it last read, and notify() writes the word before it wakes
// it, so the waiter either is woken or sees the new value (shm/wait.ts).
//
// Words: [0] next ticket, [1] slots in use so far (scans stop there),
//        [2] capacity, then per slot [state, sleepers, ticket].
import { registerHandleType, shareable, type HandleData } from '../codec/handles.js';
import { ProcessError } from '../errors.js';
import { rejecting, runAsync, runSync, type Operation } from '../shm/drive.js';
import { deadlineOf, signalOf, sliceUntil, type AcquireOptions } from '../options.js';
import { SLICE_MS } from '../shm/wait-policy.js';
import { isDead, token } from '../shm/liveness.js';
import { wake } from '../shm/wait.js';
import type { BlockHandle } from '../shm/arena.js';
import { Lock } from './lock.js';
import { RLock } from './rlock.js';
import { SharedWords } from './shared-words.js';
import { forwardLock, type LockForwarding } from './lock-forwarding.js';

const NEXT_TICKET = 0;
const IN_USE = 1;
const CAPACITY = 2;
const HEADER = 3;
const STRIDE = 3;
const TICKET = 2; // within a slot
const FREE = 0;
/** Waiters one Condition holds at once unless told otherwise (12 bytes each). */
export const DEFAULT_CAPACITY = 1024;

const stateAt = (slot: number) => HEADER + slot * STRIDE;

/** The waiter table of one Condition. */
class WaiterTable {
  constructor(readonly i32: Int32Array) {}

  get #inUse(): number {
    return Atomics.load(this.i32, IN_USE);
  }

  /** Takes a free slot for this thread (the caller holds the lock); returns its state word's index. */
  enter(): number {
    const i32 = this.i32;
    const me = token();
    const capacity = Atomics.load(i32, CAPACITY);
    for (let pass = 0; pass < 2; pass++) {
      for (let slot = 0; slot < capacity; slot++) {
        const at = stateAt(slot);
        if (Atomics.compareExchange(i32, at, FREE, me) !== FREE) continue;
        Atomics.store(i32, at + TICKET, Atomics.add(i32, NEXT_TICKET, 1));
        if (slot >= this.#inUse) Atomics.store(i32, IN_USE, slot + 1);
        return at;
      }
      this.#freeDeadSlots(); // the table is full: take back slots of waiters that died
    }
    throw new RangeError(`a Condition supports at most ${capacity} waiters at once`);
  }

  #freeDeadSlots(): void {
    for (let slot = 0, n = this.#inUse; slot < n; slot++) {
      const at = stateAt(slot);
      const s = Atomics.load(this.i32, at);
      if (s !== FREE && isDead(Math.abs(s))) Atomics.compareExchange(this.i32, at, s, FREE);
    }
  }

  /** Signals up to `n` live waiters, oldest first (the caller holds the lock). */
  notify(n: number): void {
    const i32 = this.i32;
    const waiting: number[] = [];
    for (let slot = 0, used = this.#inUse; slot < used; slot++) if (Atomics.load(i32, stateAt(slot)) > 0) waiting.push(stateAt(slot));
    if (waiting.length > n) {
      const ticket = (at: number) => Atomics.load(i32, at + TICKET);
      waiting.sort((a, b) => (ticket(a) - ticket(b)) | 0); // tickets wrap: compare their difference
    }
    for (const at of waiting) {
      if (n <= 0) return;
      const t = Atomics.load(i32, at);
      if (t <= 0) continue; // left (timed out, aborted) meanwhile
      if (isDead(t)) {
        Atomics.compareExchange(i32, at, t, FREE);
        continue;
      }
      if (Atomics.compareExchange(i32, at, t, -t) !== t) continue;
      wake(i32, at, 1);
      n--;
    }
  }

  /** A signal whose waiter died before taking it: frees its slot and reports it (for a live waiter to take). */
  takeOrphanedSignal(): boolean {
    for (let slot = 0, used = this.#inUse; slot < used; slot++) {
      const at = stateAt(slot);
      const s = Atomics.load(this.i32, at);
      if (s < 0 && isDead(-s) && Atomics.compareExchange(this.i32, at, s, FREE) === s) return true;
    }
    return false;
  }
}

/**
 * Waits in slot `at` for a signal (true) or the deadline (false). An abort
 * frees the slot and rethrows; `passOn.signal` tells whether a signal had
 * arrived all the same, for the caller to hand on.
 */
function* takeSignal(table: WaiterTable, at: number, deadline: number, passOn: { signal: boolean }): Operation<boolean> {
  const i32 = table.i32;
  let orphansCheckAt = Date.now() + SLICE_MS;
  for (;;) {
    const s = Atomics.load(i32, at);
    if (s < 0) {
      Atomics.store(i32, at, FREE);
      return true;
    }
    const now = Date.now();
    if (now >= orphansCheckAt) {
      orphansCheckAt = now + SLICE_MS;
      if (table.takeOrphanedSignal()) {
        if (Atomics.compareExchange(i32, at, s, FREE) === s) return true;
        table.notify(1); // signalled meanwhile too: hand the orphaned signal on
        continue;
      }
    }
    if (now >= deadline) {
      if (Atomics.compareExchange(i32, at, s, FREE) === s) return false;
      continue; // signalled meanwhile: take it
    }
    try {
      yield { i32, index: at, expected: s, ms: sliceUntil(deadline) };
    } catch (err) {
      if (Atomics.compareExchange(i32, at, s, FREE) !== s) {
        Atomics.store(i32, at, FREE);
        passOn.signal = true;
      }
      throw err;
    }
  }
}

// biome-ignore lint/suspicious/noUnsafeDeclarationMerging: forwardLock installs the merged interface's methods (below).
export class Condition {
  readonly #words: SharedWords;
  readonly #waiters: WaiterTable;
  readonly #lock: Lock;

  /** `internal`: the words of a Condition received in a message, or (for a Barrier) how many waiters to hold. */
  constructor(lock?: Lock, internal?: never) {
    if (lock !== undefined && !(lock instanceof Lock)) throw new TypeError('Condition(lock): lock must be a Lock or an RLock');
    this.#lock = lock ?? new RLock();
    const attach = internal as SharedWords | number | undefined;
    if (attach instanceof SharedWords) this.#words = attach;
    else {
      const capacity = attach ?? DEFAULT_CAPACITY;
      this.#words = SharedWords.allocate(HEADER + capacity * STRIDE, this);
      Atomics.store(this.#words.i32, CAPACITY, capacity);
    }
    this.#waiters = new WaiterTable(this.#words.i32);
  }

  /** The underlying Lock or RLock. */
  get _lock(): Lock {
    return this.#lock;
  }

  #checkOwned(what: string): void {
    if (!this.#lock.isMine()) throw new ProcessError(`must acquire() the condition before using ${what}()`);
  }

  /** wait() as an operation: release the lock, take a signal or time out, re-acquire. */
  *_waitOp(deadline: number): Operation<boolean> {
    this.#checkOwned('wait');
    const at = this.#waiters.enter(); // before releasing the lock: a notify() after this sees us
    const depth = this.#lock._releaseAll();
    const passOn = { signal: false };
    try {
      return yield* takeSignal(this.#waiters, at, deadline, passOn);
    } finally {
      // Not abortable (shm/drive.ts): wait() always returns holding the lock,
      // taking it over if its holder died meanwhile.
      yield* this.#lock._acquireOp(Infinity);
      this.#lock._restore(depth);
      if (passOn.signal) this.#waiters.notify(1); // an aborted waiter's signal goes to the next one
    }
  }

  *_waitForOp<T>(predicate: () => T, deadline: number): Operation<T> {
    let result = predicate();
    while (!result && Date.now() < deadline) {
      yield* this._waitOp(deadline);
      result = predicate();
    }
    return result;
  }

  /** Releases the lock, waits for notify() (true) or the timeout (false), and re-acquires the lock. */
  wait(timeout?: number | AcquireOptions): Promise<boolean> {
    return rejecting(() => runAsync(this._waitOp(deadlineOf(timeout)), signalOf(timeout)));
  }

  waitSync(timeout?: number | AcquireOptions): boolean {
    return runSync(this._waitOp(deadlineOf(timeout)));
  }

  /** Waits until `predicate()` is truthy (checked under the lock); returns its last value. */
  waitFor<T>(predicate: () => T, timeout?: number | AcquireOptions): Promise<T> {
    return rejecting(() => runAsync(this._waitForOp(predicate, deadlineOf(timeout)), signalOf(timeout)));
  }

  waitForSync<T>(predicate: () => T, timeout?: number | AcquireOptions): T {
    return runSync(this._waitForOp(predicate, deadlineOf(timeout)));
  }

  /** Wakes up to `n` waiters (the caller holds the lock). */
  notify(n = 1): void {
    this.#checkOwned('notify');
    if (typeof n !== 'number' || Number.isNaN(n)) throw new TypeError('notify(n): n must be a number');
    this.#waiters.notify(n);
  }

  notifyAll(): void {
    this.notify(Infinity);
  }

  [shareable](): HandleData {
    return { type: 'multiproc.Condition', data: { words: this.#words.toHandle('a Condition'), lock: this.#lock } };
  }
}

export interface Condition extends LockForwarding {}
forwardLock(Condition, (c) => c._lock);

registerHandleType('multiproc.Condition', (d: { words: BlockHandle; lock: Lock }) => new Condition(d.lock, SharedWords.attach(d.words) as never));
