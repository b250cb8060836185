// What the server-side referents share: who is calling, and lists of calls
// waiting for something (a lock, an item, a notify) with their timeouts.
//
// The server is one thread serving many clients, so a referent never blocks:
// a call that must wait returns a Promise, settled when its turn comes, its
// timeout passes or its client cancels it. A waiter whose client died is
// dropped, never settled and never handed anything ([onClientGone], and
// shift() skips the dead), and its timer is cleared, so nothing resumes later
// on behalf of the dead.
//
// Client ids are a server's own, so each server has a ClientScope, and each
// referent keeps the scope of the server that made it (its WaitLists take
// it when they are constructed, which happens inside a call of that server).
import { MAX_TIMER_MS } from '../options.js';

/** What a server tells its referents about its clients. */
export interface ClientScope {
  isAlive(id: number): boolean;
  /** How to cancel each call waiting now, by `${client}:${call}`. */
  readonly cancellers: Map<string, () => void>;
}

/** The scope of referents made outside any server (always alive, never cancelled). */
const detached: ClientScope = { isAlive: () => true, cancellers: new Map() };
let scope = detached;
let caller = 0;
let callNumber = 0;

/** The client whose call is being dispatched now (read it before any await). */
export function callerId(): number {
  return caller;
}

/** Runs `fn` as call `call` of client `id` of the server whose scope is `s`. */
export function asCaller<T>(s: ClientScope, id: number, call: number, fn: () => T): T {
  const saved = [scope, caller, callNumber] as const;
  scope = s;
  caller = id;
  callNumber = call;
  try {
    return fn();
  } finally {
    [scope, caller, callNumber] = saved;
  }
}

/** Rejects a waiting call whose client cancelled it (its AbortSignal was aborted). */
export class CallCancelled extends Error {}

/** Cancels call `call` of client `id` if it is waiting now; false if it is not (done, or not waiting in a WaitList). */
export function cancelCall(s: ClientScope, id: number, call: number): boolean {
  const cancel = s.cancellers.get(`${id}:${call}`);
  cancel?.();
  return cancel !== undefined;
}

/** Implemented by referents that keep per-client state: the server calls it when a client is gone. */
export const onClientGone: unique symbol = Symbol('multiproc.onClientGone') as never;

export interface Waiter<T> {
  readonly caller: number;
  resolve(value: T): void;
  reject(err: unknown): void;
  /** Clears its timer and its canceller without settling it (a dead client's waiter). */
  drop(): void;
}

/** Calls `fn` once `deadline` (Date.now()-based) has passed, re-arming past setTimeout's limit; returns how to clear it. */
function atDeadline(deadline: number, fn: () => void): () => void {
  let timer: NodeJS.Timeout;
  const arm = () => {
    const left = deadline - Date.now();
    timer = left > MAX_TIMER_MS ? setTimeout(arm, MAX_TIMER_MS) : setTimeout(fn, Math.max(0, left));
  };
  arm();
  return () => clearTimeout(timer);
}

/** Waiters in arrival order, each settled once: given a value, timed out (`timedOut`), cancelled, or dropped. */
export class WaitList<T, W extends object = object> {
  readonly #waiters: (Waiter<T> & W)[] = [];
  readonly #scope = scope;

  get length(): number {
    return this.#waiters.length;
  }

  /** Whether client `id` of this list's server is still there. */
  isAlive(id: number): boolean {
    return this.#scope.isAlive(id);
  }

  /**
   * Waits until handed a value or `deadline` (Date.now()-based) passes; then
   * `timedOut` is resolved. Waiting for the call being dispatched, it can be
   * cancelled by its client: then it rejects with CallCancelled.
   */
  wait(waiterCaller: number, deadline: number, timedOut: T, extra?: W): Promise<T> {
    const { cancellers } = this.#scope;
    const key = callNumber !== 0 && caller === waiterCaller ? `${caller}:${callNumber}` : null;
    return new Promise<T>((resolve, reject) => {
      let clearTimer = () => {};
      const drop = () => {
        clearTimer();
        if (key) cancellers.delete(key);
      };
      const waiter = Object.assign(extra ?? ({} as W), {
        caller: waiterCaller,
        resolve: (v: T) => {
          drop();
          resolve(v);
        },
        reject: (e: unknown) => {
          drop();
          reject(e);
        },
        drop,
      });
      this.#waiters.push(waiter);
      if (key) {
        cancellers.set(key, () => {
          this.remove(waiter);
          waiter.reject(new CallCancelled());
        });
      }
      if (deadline !== Infinity) {
        clearTimer = atDeadline(deadline, () => {
          this.remove(waiter);
          waiter.resolve(timedOut);
        });
      }
    });
  }

  /**
   * The first waiter whose client is alive, taken off the list (the caller
   * settles it); waiters of clients that died meanwhile are dropped, so an
   * item or a lock is never handed to the dead.
   */
  shift(): (Waiter<T> & W) | undefined {
    for (let w = this.#waiters.shift(); w; w = this.#waiters.shift()) {
      if (this.#scope.isAlive(w.caller)) return w;
      w.drop();
    }
    return undefined;
  }

  remove(waiter: Waiter<T>): void {
    const i = this.#waiters.indexOf(waiter as Waiter<T> & W);
    if (i >= 0) this.#waiters.splice(i, 1);
  }

  /** Takes every waiter off the list (the caller settles them). */
  takeAll(): (Waiter<T> & W)[] {
    return this.#waiters.splice(0);
  }

  /** Drops the waiters of client `id`, unsettled; returns them. */
  dropCaller(id: number): (Waiter<T> & W)[] {
    const dropped = this.#waiters.filter((w) => w.caller === id);
    for (const w of dropped) {
      this.remove(w);
      w.drop();
    }
    return dropped;
  }
}
