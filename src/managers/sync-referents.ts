// The objects behind a manager's Lock, RLock, Semaphore, BoundedSemaphore,
// Condition, Event and Barrier proxies, living in the server. As in Python,
// where each client connection has its own server thread, the owner of an
// RLock is the client (the thread or process holding the proxy), so two
// clients never share a recursive hold. Beyond Python: a client that dies
// holding a Lock or RLock releases it, waiting for nothing is handed to a
// dead client, and a Barrier party that dies while waiting breaks the barrier.
import { deadlineOf, type AcquireOptions } from '../options.js';
import { BrokenBarrierError } from '../errors.js';
import { callerId, onClientGone, WaitList } from './waiters.js';

type Timeout = AcquireOptions | number | undefined;

/** Lock: any client may release it (Python's threading.Lock). */
export class LockReferent {
  /** The client that took it last; 0 when free. */
  protected owner = 0;
  protected readonly waiters = new WaitList<boolean>();

  acquire(options?: Timeout): boolean | Promise<boolean> {
    return this._acquire(callerId(), deadlineOf(options));
  }

  _acquire(caller: number, deadline: number): boolean | Promise<boolean> {
    if (!this.waiters.isAlive(caller)) return false; // (a Condition re-acquiring for a client that died meanwhile)
    if (this.owner === 0) {
      this.owner = caller;
      return true;
    }
    if (deadline === -Infinity) return false;
    return this.waiters.wait(caller, deadline, false);
  }

  release(): void {
    if (this.owner === 0) throw new RangeError('release unlocked lock');
    this.handOff();
  }

  locked(): boolean {
    return this.owner !== 0;
  }

  /** Gives the lock to the next waiter, or frees it. */
  protected handOff(): void {
    const next = this.waiters.shift();
    this.owner = next ? next.caller : 0;
    next?.resolve(true);
  }

  /** For Condition.wait: releases on behalf of `caller` and says how to re-acquire. */
  _releaseSave(_caller: number): number {
    if (this.owner === 0) throw new RangeError('cannot wait on un-acquired lock');
    this.handOff();
    return 1;
  }

  _acquireRestore(caller: number, _saved: number): boolean | Promise<boolean> {
    return this._acquire(caller, Infinity);
  }

  /** A plain lock has no owner: held counts as owned (Python's Condition does the same). */
  _isOwned(_caller: number): boolean {
    return this.owner !== 0;
  }

  [onClientGone](id: number): void {
    this.waiters.dropCaller(id);
    if (this.owner === id) this.handOff();
  }
}

/** RLock: the owning client may acquire it again; only it may release. */
export class RLockReferent extends LockReferent {
  #count = 0;

  override _acquire(caller: number, deadline: number): boolean | Promise<boolean> {
    if (this.owner === caller) {
      this.#count++;
      return true;
    }
    const got = super._acquire(caller, deadline);
    if (got === true) this.#count = 1; // (a waiter handed the lock later gets its count from handOff)
    return got;
  }

  override release(): void {
    if (this.owner !== callerId()) throw new RangeError('cannot release un-acquired lock');
    if (--this.#count === 0) this.handOff();
  }

  protected override handOff(): void {
    this.#count = 0;
    super.handOff();
    if (this.owner !== 0) this.#count = 1;
  }

  override _releaseSave(caller: number): number {
    if (this.owner !== caller) throw new RangeError('cannot wait on un-acquired lock');
    const saved = this.#count;
    this.handOff();
    return saved;
  }

  override _acquireRestore(caller: number, saved: number): boolean | Promise<boolean> {
    const restore = (ok: boolean) => (ok && (this.#count = saved), ok);
    const got = super._acquire(caller, Infinity);
    return typeof got === 'boolean' ? restore(got) : got.then(restore);
  }

  override _isOwned(caller: number): boolean {
    return this.owner === caller;
  }
}

export class SemaphoreReferent {
  protected value: number;
  readonly #waiters = new WaitList<boolean>();

  constructor(value = 1) {
    if (!Number.isInteger(value) || value < 0) throw new RangeError('semaphore initial value must be a non-negative integer');
    this.value = value;
  }

  acquire(options?: Timeout): boolean | Promise<boolean> {
    const deadline = deadlineOf(options);
    if (this.value > 0 && this.#waiters.length === 0) {
      this.value--;
      return true;
    }
    if (deadline === -Infinity) return false;
    return this.#waiters.wait(callerId(), deadline, false);
  }

  release(n = 1): void {
    if (!Number.isInteger(n) || n < 1) throw new RangeError('n must be one or more');
    this.value += n;
    while (this.value > 0) {
      const next = this.#waiters.shift();
      if (!next) break;
      this.value--;
      next.resolve(true);
    }
  }

  getValue(): number {
    return this.value;
  }

  [onClientGone](id: number): void {
    this.#waiters.dropCaller(id);
  }
}

export class BoundedSemaphoreReferent extends SemaphoreReferent {
  readonly #initial: number;

  constructor(value = 1) {
    super(value);
    this.#initial = value;
  }

  override release(n = 1): void {
    if (this.value + n > this.#initial) throw new RangeError('Semaphore released too many times');
    super.release(n);
  }
}

export class ConditionReferent {
  readonly #lock: LockReferent;
  readonly #waiters = new WaitList<boolean>();

  constructor(lock?: LockReferent) {
    if (lock !== undefined && !(lock instanceof LockReferent)) throw new TypeError('Condition(lock): lock must be a Lock or RLock of the same manager');
    this.#lock = lock ?? new RLockReferent();
  }

  acquire(options?: Timeout): boolean | Promise<boolean> {
    return this.#lock.acquire(options);
  }

  release(): void {
    this.#lock.release();
  }

  async wait(timeout?: Timeout): Promise<boolean> {
    const caller = callerId();
    const deadline = deadlineOf(timeout);
    if (!this.#lock._isOwned(caller)) throw new RangeError('cannot wait on un-acquired lock');
    const saved = this.#lock._releaseSave(caller);
    try {
      return await this.#waiters.wait(caller, deadline, false);
    } finally {
      await this.#lock._acquireRestore(caller, saved);
    }
  }

  notify(n = 1): void {
    if (!this.#lock._isOwned(callerId())) throw new RangeError('cannot notify on un-acquired lock');
    for (let i = 0; i < n; i++) {
      const next = this.#waiters.shift();
      if (!next) break;
      next.resolve(true);
    }
  }

  notifyAll(): void {
    this.notify(Infinity);
  }

  [onClientGone](id: number): void {
    this.#waiters.dropCaller(id);
    this.#lock[onClientGone](id);
  }
}

export class EventReferent {
  #flag = false;
  readonly #waiters = new WaitList<boolean>();

  isSet(): boolean {
    return this.#flag;
  }

  set(): void {
    this.#flag = true;
    for (const w of this.#waiters.takeAll()) w.resolve(true);
  }

  clear(): void {
    this.#flag = false;
  }

  wait(timeout?: Timeout): boolean | Promise<boolean> {
    const deadline = deadlineOf(timeout);
    if (this.#flag || deadline === -Infinity) return this.#flag;
    return this.#waiters.wait(callerId(), deadline, false);
  }

  [onClientGone](id: number): void {
    this.#waiters.dropCaller(id);
  }
}

const BROKEN = -1;
const TIMED_OUT = -2;

export class BarrierReferent {
  readonly #parties: number;
  readonly #timeout: number | undefined;
  /** Each waiter is resolved with its arrival index, BROKEN (reset or abort) or TIMED_OUT. */
  readonly #waiters = new WaitList<number, { index: number }>();
  #broken = false;

  constructor(parties: number, options: { timeout?: number } = {}) {
    if (!Number.isInteger(parties) || parties < 1) throw new RangeError('parties must be a positive integer');
    this.#parties = parties;
    this.#timeout = options.timeout;
  }

  async wait(timeout?: Timeout): Promise<number> {
    const deadline = deadlineOf(timeout ?? this.#timeout);
    if (this.#broken) throw new BrokenBarrierError('the barrier is broken');
    const index = this.#waiters.length;
    if (index + 1 === this.#parties) {
      for (const w of this.#waiters.takeAll()) w.resolve(w.index);
      return index;
    }
    let got: number;
    try {
      got = await this.#waiters.wait(callerId(), deadline, TIMED_OUT, { index });
    } catch (err) {
      this.abort(); // a cancelled wait breaks the barrier, as a timeout does
      throw err;
    }
    if (got === TIMED_OUT) this.abort(); // a timeout breaks the barrier for everyone, as Python's
    if (got < 0) throw new BrokenBarrierError('the barrier is broken');
    return got;
  }

  reset(): void {
    for (const w of this.#waiters.takeAll()) w.resolve(BROKEN);
    this.#broken = false;
  }

  abort(): void {
    this.#broken = true;
    for (const w of this.#waiters.takeAll()) w.resolve(BROKEN);
  }

  parties(): number {
    return this.#parties;
  }

  nWaiting(): number {
    return this.#waiters.length;
  }

  broken(): boolean {
    return this.#broken;
  }

  [onClientGone](id: number): void {
    if (this.#waiters.dropCaller(id).length > 0) this.abort();
  }
}
