// Barrier: Python's threading/multiprocessing Barrier — `parties` callers of
// wait() block until all have arrived; then one (the last) runs the action
// and all go on with their arrival index. States as Python's: filling,
// draining (the parties leave), resetting (reset() while parties wait) and
// broken (abort(), a timeout, an action that threw): waiters then get
// BrokenBarrierError until reset().
//
// Built on a shared Condition (with its own Lock) and words:
//   [0] state, [1] unused, [2] count of parties inside wait(), [3] parties,
//   [4 .. 4+parties) liveness tokens of the parties inside wait().
// A party that dies inside wait() would leave the others waiting forever (and
// the count stuck): waiters check the tokens every slice, and a dead one
// breaks the barrier and is counted out, so reset() can bring it back.
//
// Invariant: state, count and the token slots change only under the
// condition's lock; count = the parties inside wait() (a dead one counted
// out), and the state goes filling → draining → filling (or → broken /
// resetting) as Python's. The words are Atomics only so that the lock-free
// getters (nWaiting, broken) read whole values; the lock orders everything
// else (its release/acquire are seq_cst Atomics, see lock.ts).
import { registerHandleType, shareable, type HandleData } from '../codec/handles.js';
import { BrokenBarrierError } from '../errors.js';
import { rejecting, runAsync, runSync, type Operation } from '../shm/drive.js';
import { deadlineOf, signalOf, type AcquireOptions } from '../options.js';
import { SLICE_MS } from '../shm/wait-policy.js';
import { isDead, token } from '../shm/liveness.js';
import type { BlockHandle } from '../shm/arena.js';
import { state as processState } from '../process/state.js';
import { compileSource, toTaskSpec, type SourceTask } from '../process/task.js';
import { Condition } from './condition.js';
import { Lock } from './lock.js';
import { SharedWords } from './shared-words.js';

const STATE = 0;
const COUNT = 2;
const PARTIES = 3;
const TOKENS = 4;
const enum State {
  Filling = 0,
  Draining = 1,
  Resetting = 2,
  Broken = 3,
}

export interface BarrierOptions {
  /** Called (with no arguments) by one party — the last to arrive — before the others are released. */
  action?: () => unknown;
  /** Default timeout (ms) of wait(). */
  timeout?: number;
}

interface BarrierData {
  words: BlockHandle;
  cond: Condition;
  action: SourceTask | null;
  timeout: number | null;
}

export class Barrier {
  readonly #words: SharedWords;
  readonly #i32: Int32Array;
  readonly #cond: Condition;
  readonly #actionSpec: SourceTask | null;
  #action: (() => unknown) | null;
  readonly #timeout: number | undefined;

  constructor(parties: number, options: BarrierOptions = {}, attach?: never) {
    const data = attach as unknown as { words: SharedWords; cond: Condition; action: SourceTask | null } | undefined;
    if (data) {
      this.#words = data.words;
      this.#cond = data.cond;
      this.#actionSpec = data.action;
      this.#action = null;
    } else {
      if (!Number.isInteger(parties) || parties < 1) throw new RangeError('parties must be a positive integer');
      this.#words = SharedWords.allocate(TOKENS + parties, this);
      Atomics.store(this.#words.i32, PARTIES, parties);
      // Waiters at once: the parties filling this round, plus callers of the next one waiting for it to drain.
      this.#cond = new Condition(new Lock(), (2 * parties + 8) as never);
      const action = options.action;
      this.#action = action ?? null;
      this.#actionSpec = action ? (toTaskSpec(action, 'action') as SourceTask) : null;
      if (this.#actionSpec && this.#actionSpec.kind !== 'source') throw new TypeError('a Barrier action must be a function');
    }
    this.#i32 = this.#words.i32;
    this.#timeout = options.timeout;
  }

  get parties(): number {
    return Atomics.load(this.#i32, PARTIES);
  }

  /** How many parties are waiting now. */
  get nWaiting(): number {
    return Atomics.load(this.#i32, STATE) === State.Filling ? Atomics.load(this.#i32, COUNT) : 0;
  }

  get broken(): boolean {
    return Atomics.load(this.#i32, STATE) === State.Broken;
  }

  /** Waits for all parties; resolves with this party's arrival index (0 .. parties-1). */
  wait(timeout?: number | AcquireOptions): Promise<number> {
    return rejecting(() => runAsync(this.#waitOp(this.#deadlineOf(timeout)), signalOf(timeout)));
  }

  waitSync(timeout?: number | AcquireOptions): number {
    return runSync(this.#waitOp(this.#deadlineOf(timeout)));
  }

  /** The deadline of a wait: its own timeout, else the barrier's default one. */
  #deadlineOf(timeout: number | AcquireOptions | undefined): number {
    if (this.#timeout === undefined) return deadlineOf(timeout);
    if (timeout === undefined || timeout === null) return deadlineOf(this.#timeout);
    if (typeof timeout === 'object' && timeout.timeout === undefined) return deadlineOf({ ...timeout, timeout: this.#timeout });
    return deadlineOf(timeout);
  }

  /** Back to the initial state; parties waiting now get BrokenBarrierError. */
  reset(): void {
    this.#withLock(() => {
      const count = Atomics.load(this.#i32, COUNT);
      const s = Atomics.load(this.#i32, STATE);
      if (count > 0) {
        if (s === State.Filling || s === State.Broken) Atomics.store(this.#i32, STATE, State.Resetting);
      } else Atomics.store(this.#i32, STATE, State.Filling);
      this.#cond.notifyAll();
    });
  }

  /** Breaks the barrier: current and future waiters get BrokenBarrierError until reset(). */
  abort(): void {
    this.#withLock(() => this.#break());
  }

  #withLock(fn: () => void): void {
    this.#cond.acquireSync();
    try {
      fn();
    } finally {
      this.#cond.release();
    }
  }

  #break(): void {
    Atomics.store(this.#i32, STATE, State.Broken);
    this.#cond.notifyAll();
  }

  /** Counts out parties that died inside wait(); true if there were any (the caller holds the lock). */
  #reapDead(): boolean {
    let found = false;
    for (let i = TOKENS; i < TOKENS + this.parties; i++) {
      const t = Atomics.load(this.#i32, i);
      if (t !== 0 && isDead(t)) {
        Atomics.store(this.#i32, i, 0);
        Atomics.sub(this.#i32, COUNT, 1);
        found = true;
      }
    }
    return found;
  }

  #register(): void {
    const me = token();
    for (let i = TOKENS; i < TOKENS + this.parties; i++) {
      if (Atomics.load(this.#i32, i) === 0) return void Atomics.store(this.#i32, i, me);
    }
  }

  #unregister(): void {
    const me = token();
    for (let i = TOKENS; i < TOKENS + this.parties; i++) {
      if (Atomics.load(this.#i32, i) === me) return void Atomics.store(this.#i32, i, 0);
    }
  }

  #runAction(): void {
    if (!this.#actionSpec) return;
    this.#action ??= compileSource(this.#actionSpec, processState.entry) as () => unknown;
    this.#action();
  }

  *#waitOp(deadline: number): Operation<number> {
    const i32 = this.#i32;
    yield* this.#cond._lock._acquireOp(Infinity);
    try {
      // Wait for the previous round to drain or a reset to finish.
      // A party that died after passing (draining) or after a reset harmed no
      // one: once it is counted out and nobody is left, the barrier fills again.
      while (Atomics.load(i32, STATE) === State.Draining || Atomics.load(i32, STATE) === State.Resetting) {
        if (this.#reapDead() && Atomics.load(i32, COUNT) === 0) {
          Atomics.store(i32, STATE, State.Filling);
          this.#cond.notifyAll();
        } else yield* this.#cond._waitOp(Date.now() + SLICE_MS);
      }
      if (Atomics.load(i32, STATE) === State.Broken) throw new BrokenBarrierError();
      const index = Atomics.add(i32, COUNT, 1);
      this.#register();
      try {
        if (index + 1 === this.parties) {
          try {
            this.#runAction();
          } catch (err) {
            this.#break();
            throw err;
          }
          Atomics.store(i32, STATE, State.Draining);
          this.#cond.notifyAll();
        } else {
          while (Atomics.load(i32, STATE) === State.Filling) {
            if (this.#reapDead() || Date.now() >= deadline) {
              this.#break();
              break;
            }
            try {
              yield* this.#cond._waitOp(Math.min(deadline, Date.now() + SLICE_MS));
            } catch (err) {
              this.#break(); // an aborted wait gives up as a timeout does: the others are not left waiting
              throw err;
            }
          }
          const s = Atomics.load(i32, STATE);
          if (s === State.Broken || s === State.Resetting) throw new BrokenBarrierError();
        }
        return index;
      } finally {
        this.#unregister();
        const left = Atomics.sub(i32, COUNT, 1) - 1;
        const s = Atomics.load(i32, STATE);
        if (left === 0 && (s === State.Resetting || s === State.Draining)) {
          Atomics.store(i32, STATE, State.Filling);
          this.#cond.notifyAll();
        }
      }
    } finally {
      this.#cond.release();
    }
  }

  [shareable](): HandleData {
    const data: BarrierData = { words: this.#words.toHandle('a Barrier'), cond: this.#cond, action: this.#actionSpec, timeout: this.#timeout ?? null };
    return { type: 'multiproc.Barrier', data };
  }
}

registerHandleType('multiproc.Barrier', (d: BarrierData) => {
  const attach = { words: SharedWords.attach(d.words), cond: d.cond, action: d.action };
  return new Barrier(0, { timeout: d.timeout ?? undefined }, attach as never);
});
